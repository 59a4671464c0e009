#include "state/chunk_codec.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <lz4.h>

#include "engine/bytes.h"

namespace pinstream::state {

namespace {

constexpr std::string_view kMagic = "PSC1";

template <typename T>
void AppendRaw(std::string* out, const T* data, std::size_t n) {
  out->append(reinterpret_cast<const char*>(data), n * sizeof(T));
}

void EncodeColumn(const Column& c, std::size_t begin, std::size_t end, std::string* payload, bool* has_nulls) {
  std::size_t n = end - begin;
  *has_nulls = false;
  for (std::size_t i = begin; i < end; ++i) {
    if (c.IsNull(i)) {
      *has_nulls = true;
      break;
    }
  }
  if (*has_nulls && c.type() != TypeId::kNull) AppendRaw(payload, c.validity().data() + begin, n);
  switch (c.type()) {
    case TypeId::kNull: break;
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp: AppendRaw(payload, c.ints().data() + begin, n); break;
    case TypeId::kDouble: AppendRaw(payload, c.doubles().data() + begin, n); break;
    case TypeId::kString:
    case TypeId::kRaw:
    case TypeId::kDoubleArray: {
      const auto& off = c.offsets();
      std::size_t lens_at = payload->size();
      payload->resize(lens_at + n * 4);
      char* p = payload->data() + lens_at;
      for (std::size_t i = 0; i < n; ++i) {
        auto len = static_cast<std::uint32_t>(off[begin + i + 1] - off[begin + i]);
        std::memcpy(p + i * 4, &len, 4);
      }
      if (c.type() == TypeId::kDoubleArray) {
        AppendRaw(payload, c.doubles().data() + off[begin], off[end] - off[begin]);
      } else {
        payload->append(c.bytes().data() + off[begin], off[end] - off[begin]);
      }
      break;
    }
  }
}

Status Bad(std::string_view what) { return Corruption(fmt::format("damaged table chunk: {}", what)); }

Result<Column> DecodeColumn(TypeId type, std::size_t n, bool has_nulls, std::string_view p) {
  Column c(type);
  auto& validity = c.mutable_validity();
  std::size_t pos = 0;
  if (type == TypeId::kNull) {
    validity.assign(n, 0);
    return c;
  }
  if (has_nulls) {
    if (p.size() < n) return Bad("validity truncated");
    validity.assign(reinterpret_cast<const std::uint8_t*>(p.data()), reinterpret_cast<const std::uint8_t*>(p.data()) + n);
    pos = n;
  } else {
    validity.assign(n, 1);
  }
  switch (type) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp: {
      if (p.size() - pos != n * 8) return Bad("integer values have the wrong size");
      auto& v = c.mutable_ints();
      v.resize(n);
      std::memcpy(v.data(), p.data() + pos, n * 8);
      break;
    }
    case TypeId::kDouble: {
      if (p.size() - pos != n * 8) return Bad("double values have the wrong size");
      auto& v = c.mutable_doubles();
      v.resize(n);
      std::memcpy(v.data(), p.data() + pos, n * 8);
      break;
    }
    case TypeId::kString:
    case TypeId::kRaw:
    case TypeId::kDoubleArray: {
      if (p.size() - pos < n * 4) return Bad("lengths truncated");
      auto& off = c.mutable_offsets();
      off.resize(n + 1);
      off[0] = 0;
      const char* lens = p.data() + pos;
      std::uint64_t total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t len;
        std::memcpy(&len, lens + i * 4, 4);
        total += len;
        off[i + 1] = total;
      }
      pos += n * 4;
      std::size_t elem = type == TypeId::kDoubleArray ? 8 : 1;
      if ((p.size() - pos) != total * elem) return Bad("value bytes have the wrong size");
      if (type == TypeId::kDoubleArray) {
        auto& d = c.mutable_doubles();
        d.resize(total);
        std::memcpy(d.data(), p.data() + pos, total * 8);
      } else {
        c.mutable_bytes().assign(p.data() + pos, total);
      }
      break;
    }
    case TypeId::kNull: break;
  }
  return c;
}

}  // namespace

std::string EncodeChunk(const RecordBatch& batch, std::size_t begin, std::size_t end) {
  std::string out(kMagic);
  PutVarint64(&out, end - begin);
  PutVarint64(&out, batch.num_columns());
  std::string payload, compressed;
  for (std::size_t c = 0; c < batch.num_columns(); ++c) {
    const Column& col = batch.column(c);
    payload.clear();
    bool has_nulls = false;
    EncodeColumn(col, begin, end, &payload, &has_nulls);
    std::uint8_t flags = has_nulls ? 1 : 0;
    std::string_view stored = payload;
    if (payload.size() >= 64) {
      int bound = LZ4_compressBound(static_cast<int>(payload.size()));
      compressed.resize(static_cast<std::size_t>(bound));
      int n = LZ4_compress_default(payload.data(), compressed.data(), static_cast<int>(payload.size()), bound);
      if (n > 0 && static_cast<std::size_t>(n) < payload.size() - payload.size() / 16) {
        stored = std::string_view(compressed.data(), static_cast<std::size_t>(n));
        flags |= 2;
      }
    }
    PutLengthPrefixed(&out, batch.name(c));
    out.push_back(static_cast<char>(col.type()));
    out.push_back(static_cast<char>(flags));
    PutVarint64(&out, payload.size());
    PutLengthPrefixed(&out, stored);
  }
  return out;
}

Result<std::size_t> ChunkRowCount(std::string_view chunk) {
  if (chunk.substr(0, 4) != kMagic) return Bad("bad magic");
  ByteReader r(chunk.substr(4));
  std::uint64_t rows;
  if (!r.GetVarint64(&rows)) return Bad("header truncated");
  return static_cast<std::size_t>(rows);
}

Result<RecordBatch> DecodeChunk(std::string_view chunk, const std::vector<std::string>* columns) {
  if (chunk.substr(0, 4) != kMagic) return Bad("bad magic");
  ByteReader r(chunk.substr(4));
  std::uint64_t rows, ncols;
  if (!r.GetVarint64(&rows) || !r.GetVarint64(&ncols)) return Bad("header truncated");
  if (rows > (1u << 31) || ncols > 100000) return Bad("implausible header");
  RecordBatch out;
  out.row_ids().resize(rows);
  for (std::size_t i = 0; i < rows; ++i) out.row_ids()[i] = i;
  std::string buf;
  for (std::uint64_t c = 0; c < ncols; ++c) {
    std::string_view name, stored;
    std::uint8_t type_byte, flags;
    std::uint64_t raw_size;
    if (!r.GetLengthPrefixed(&name) || !r.GetByte(&type_byte) || !r.GetByte(&flags) || !r.GetVarint64(&raw_size) ||
        !r.GetLengthPrefixed(&stored)) {
      return Bad("column header truncated");
    }
    if (type_byte > static_cast<std::uint8_t>(TypeId::kRaw)) return Bad("unknown column type");
    if (columns != nullptr && std::find(columns->begin(), columns->end(), name) == columns->end()) continue;
    std::string_view payload = stored;
    if (flags & 2) {
      if (raw_size > (1ULL << 34)) return Bad("implausible column size");
      buf.resize(raw_size);
      int n = LZ4_decompress_safe(stored.data(), buf.data(), static_cast<int>(stored.size()), static_cast<int>(raw_size));
      if (n < 0 || static_cast<std::uint64_t>(n) != raw_size) return Bad("LZ4 data does not decompress");
      payload = buf;
    } else if (stored.size() != raw_size) {
      return Bad("column size mismatch");
    }
    PS_ASSIGN_OR_RETURN(Column col, DecodeColumn(static_cast<TypeId>(type_byte), rows, flags & 1, payload));
    out.AddColumn(std::string(name), std::move(col));
  }
  return out;
}

}  // namespace pinstream::state
