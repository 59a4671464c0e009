#include "state/chunk_codec.h"

#include <fmt/format.h>
#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "engine/byte_buffer.h"
#include "engine/bytes.h"
#include "engine/parallel.h"

namespace pinstream::state {

namespace {

constexpr std::string_view kMagic = "PSC1";
constexpr std::size_t kMinCompress = 64;
// LZ4 acceleration 2: ~10 % faster than the default for a few % less compression.
constexpr int kLz4Acceleration = 2;
// zstd's fastest regular level: the table codec for small tables, not for throughput.
constexpr int kZstdLevel = 1;

Status Bad(std::string_view what) {
  return Corruption(fmt::format("damaged table chunk: {}", what));
}

std::size_t VarintLength(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes `v` as a varint of exactly `width` bytes (continuation bits on the padding bytes, which
// any varint reader decodes to the same value), so that a size can be filled in after the bytes
// it describes were written behind it.
void PutPaddedVarint(char* at, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i + 1 < width; ++i) {
    at[i] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  at[width - 1] = static_cast<char>(v);
}

std::size_t CompressBound(ChunkCodec codec, std::size_t size) {
  switch (codec) {
    case ChunkCodec::kNone:
      return 0;
    case ChunkCodec::kLz4:
      return static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(size)));
    case ChunkCodec::kZstd:
      return ZSTD_compressBound(size);
  }
  return 0;
}

// The most bytes PutSegment appends for `size` bytes of data.
std::size_t SegmentBound(ChunkCodec codec, std::size_t size) {
  std::size_t stored = codec != ChunkCodec::kNone && size >= kMinCompress
                           ? std::max(size, CompressBound(codec, size))
                           : size;
  return 2 * VarintLength(stored) + 1 + stored;
}

// Compresses `size` bytes at `src` into `dst` (capacity `bound`): the compressed size, or 0.
std::size_t Compress(ChunkCodec codec, const char* src, std::size_t size, char* dst,
                     std::size_t bound) {
  if (codec == ChunkCodec::kLz4) {
    int n = LZ4_compress_fast(src, dst, static_cast<int>(size), static_cast<int>(bound),
                              kLz4Acceleration);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  // One context per thread (the encoders run on the commit thread and its ParallelFor workers).
  thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(),
                                                                         &ZSTD_freeCCtx);
  if (!cctx) return 0;
  std::size_t n = ZSTD_compressCCtx(cctx.get(), dst, bound, src, size, kZstdLevel);
  return ZSTD_isError(n) ? 0 : n;
}

// Appends one segment: varint raw size | codec byte | varint stored size | bytes.
// Compresses straight from `data` into `out`, behind a stored-size varint as wide as the bound's,
// filled in afterwards (no intermediate copy, no move of the compressed bytes). Data that does
// not shrink by at least 1/16 is stored raw.
void PutSegment(ChunkCodec codec, ByteBuffer* out, const void* data, std::size_t size) {
  PutVarint64(out, size);
  const char* src = static_cast<const char*>(data);
  if (codec != ChunkCodec::kNone && size >= kMinCompress) {
    std::size_t bound = CompressBound(codec, size);
    std::size_t width = VarintLength(bound);
    std::size_t header_at = out->size();
    out->resize(header_at + 1 + width + bound);
    char* dst = out->data() + header_at + 1 + width;
    std::size_t n = Compress(codec, src, size, dst, bound);
    if (n > 0 && n < size - size / 16) {
      out->data()[header_at] = codec == ChunkCodec::kLz4 ? 1 : 2;
      PutPaddedVarint(out->data() + header_at + 1, n, width);
      out->resize(header_at + 1 + width + n);
      return;
    }
    out->resize(header_at);
  }
  out->push_back(0);
  PutVarint64(out, size);
  out->append(src, size);
}

// Reads one segment into `dst` (resized to exactly the raw size).
template <typename Vec>
Status GetSegment(ByteReader& r, Vec* dst, std::size_t elem_size, std::size_t expect_bytes) {
  std::uint64_t raw_size, stored_size;
  std::uint8_t codec;
  std::string_view stored;
  if (!r.GetVarint64(&raw_size) || !r.GetByte(&codec) || !r.GetVarint64(&stored_size) ||
      !r.GetBytes(static_cast<std::size_t>(stored_size), &stored)) {
    return Bad("segment truncated");
  }
  if (expect_bytes != SIZE_MAX && raw_size != expect_bytes)
    return Bad("segment has the wrong size");
  if (raw_size > (1ULL << 34) || raw_size % elem_size != 0) return Bad("implausible segment size");
  // Sizes are checked against the stored bytes before anything is allocated: a damaged size must
  // not make a small chunk allocate gigabytes. LZ4 expands at most ~255-fold; a zstd frame
  // declares its content size (ZSTD_compressCCtx writes it) and expands at most 32768-fold (a
  // 128 KiB block in 4 bytes).
  if (codec == 0 && stored_size != raw_size) return Bad("raw segment size mismatch");
  if (codec == 1 && raw_size > stored.size() * 256 + 64) return Bad("LZ4 segment size implausible");
  if (codec == 2 && (ZSTD_getFrameContentSize(stored.data(), stored.size()) != raw_size ||
                     raw_size > stored.size() * 32768 + (128 << 10))) {
    return Bad("zstd segment size does not match its frame");
  }
  dst->resize(raw_size / elem_size);
  char* out = reinterpret_cast<char*>(dst->data());
  if (codec == 0) {
    if (stored_size != raw_size) return Bad("raw segment size mismatch");
    if (raw_size) std::memcpy(out, stored.data(), raw_size);
  } else if (codec == 1) {
    int n = LZ4_decompress_safe(stored.data(), out, static_cast<int>(stored.size()),
                                static_cast<int>(raw_size));
    if (n < 0 || static_cast<std::uint64_t>(n) != raw_size)
      return Bad("LZ4 data does not decompress");
  } else if (codec == 2) {
    std::size_t n = ZSTD_decompress(out, raw_size, stored.data(), stored.size());
    if (ZSTD_isError(n) || n != raw_size) return Bad("zstd data does not decompress");
  } else {
    return Bad("unknown segment codec");
  }
  return Status::Ok();
}

Status SkipSegment(ByteReader& r) {
  std::uint64_t raw_size, stored_size;
  std::uint8_t codec;
  std::string_view stored;
  if (!r.GetVarint64(&raw_size) || !r.GetByte(&codec) || !r.GetVarint64(&stored_size) ||
      !r.GetBytes(static_cast<std::size_t>(stored_size), &stored)) {
    return Bad("segment truncated");
  }
  return Status::Ok();
}

int SegmentCount(TypeId t, bool has_nulls) {
  int n = has_nulls ? 1 : 0;
  if (t == TypeId::kNull) return 0;
  if (IsBinaryLike(t) || t == TypeId::kDoubleArray) return n + 2;  // lengths + data
  return n + 1;                                                    // fixed-width values
}

}  // namespace

// Layout:
//   "PSC1" | varint rows | varint columns | per column:
//     name (length-prefixed) | type byte | flags byte (1 = has nulls) | segments:
//       [validity: one byte per row]              only with nulls
//       bool/int64/timestamp/double: 8 bytes per row
//       string/raw/array<double>: 4-byte lengths, then the bytes (or the doubles)
// Each segment is compressed on its own, straight from the column's buffers.
namespace {

void EncodeColumn(const RecordBatch& batch, std::size_t c, std::size_t begin, std::size_t end,
                  ChunkCodec codec, ByteBuffer* out) {
  std::size_t n = end - begin;
  const Column& col = batch.column(c);
  bool has_nulls = false;
  if (col.type() != TypeId::kNull) {
    const auto* v = col.validity().data() + begin;
    for (std::size_t i = 0; i < n; ++i) {
      if (!v[i]) {
        has_nulls = true;
        break;
      }
    }
  }
  // Room for every segment at its bound, so that compressing into `out` never reallocates.
  std::size_t bound = 16 + batch.name(c).size() + (has_nulls ? SegmentBound(codec, n) : 0);
  switch (col.type()) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
    case TypeId::kDouble:
      bound += SegmentBound(codec, n * 8);
      break;
    case TypeId::kString:
    case TypeId::kRaw:
    case TypeId::kDoubleArray: {
      std::size_t elem = col.type() == TypeId::kDoubleArray ? 8 : 1;
      bound += SegmentBound(codec, n * 4) +
               SegmentBound(codec, (col.offsets()[end] - col.offsets()[begin]) * elem);
      break;
    }
    case TypeId::kNull:
      break;
  }
  out->reserve(out->size() + bound);
  PutLengthPrefixed(out, batch.name(c));
  out->push_back(static_cast<char>(col.type()));
  out->push_back(static_cast<char>(has_nulls ? 1 : 0));
  if (col.type() == TypeId::kNull) return;
  if (has_nulls) PutSegment(codec, out, col.validity().data() + begin, n);
  switch (col.type()) {
    case TypeId::kBool:
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      PutSegment(codec, out, col.ints().data() + begin, n * 8);
      break;
    case TypeId::kDouble:
      PutSegment(codec, out, col.doubles().data() + begin, n * 8);
      break;
    case TypeId::kString:
    case TypeId::kRaw:
    case TypeId::kDoubleArray: {
      const auto& off = col.offsets();
      std::vector<std::uint32_t> lengths(n);
      for (std::size_t i = 0; i < n; ++i)
        lengths[i] = static_cast<std::uint32_t>(off[begin + i + 1] - off[begin + i]);
      PutSegment(codec, out, lengths.data(), n * 4);
      if (col.type() == TypeId::kDoubleArray) {
        PutSegment(codec, out, col.doubles().data() + off[begin], (off[end] - off[begin]) * 8);
      } else {
        PutSegment(codec, out, col.bytes().data() + off[begin], off[end] - off[begin]);
      }
      break;
    }
    case TypeId::kNull:
      break;
  }
}

}  // namespace

Result<ChunkCodec> ParseChunkCodec(std::string_view name) {
  if (name == "none") return ChunkCodec::kNone;
  if (name == "lz4") return ChunkCodec::kLz4;
  if (name == "zstd") return ChunkCodec::kZstd;
  return InvalidArgument(
      fmt::format("unknown table compression '{}' (expected none, lz4 or zstd)", name));
}

// Layout: see chunk_codec.h. Columns are encoded (and compressed) in parallel when the chunk is
// big enough to repay the hand-off.
std::string EncodeChunk(const RecordBatch& batch, std::size_t begin, std::size_t end,
                        ChunkCodec codec) {
  std::size_t n = end - begin;
  std::size_t ncol = batch.num_columns();
  // Each column is encoded into its own buffer (in parallel), sized at the bound of its
  // segments and not zeroed (a ByteBuffer): the compressors write straight into it.
  std::vector<ByteBuffer> cols(ncol);
  auto encode = [&](std::size_t c) { EncodeColumn(batch, c, begin, end, codec, &cols[c]); };
  if (n >= 256 && ncol > 1) {
    ParallelFor(ncol, encode);
  } else {
    for (std::size_t c = 0; c < ncol; ++c) encode(c);
  }
  std::string out(kMagic);
  std::size_t total = 32;
  for (const auto& c : cols) total += c.size();
  out.reserve(total);
  PutVarint64(&out, n);
  PutVarint64(&out, ncol);
  for (const auto& c : cols) out.append(c.data(), c.size());
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
  // Writers put at most a few ten thousand rows in a chunk. Columns of type null take no bytes in
  // the chunk but a byte per row decoded: rows x columns is bounded too.
  if (rows > (1u << 24) || ncols > 100000 || rows * ncols > (1u << 28))
    return Bad("implausible header");
  std::size_t n = static_cast<std::size_t>(rows);
  RecordBatch out;
  out.row_ids().resize(n);
  for (std::size_t i = 0; i < n; ++i) out.row_ids()[i] = i;
  std::vector<std::uint32_t> lengths;
  for (std::uint64_t c = 0; c < ncols; ++c) {
    std::string_view name;
    std::uint8_t type_byte, flags;
    if (!r.GetLengthPrefixed(&name) || !r.GetByte(&type_byte) || !r.GetByte(&flags)) {
      return Bad("column header truncated");
    }
    if (type_byte > static_cast<std::uint8_t>(TypeId::kRaw)) return Bad("unknown column type");
    auto type = static_cast<TypeId>(type_byte);
    bool has_nulls = flags & 1;
    if (columns != nullptr && std::find(columns->begin(), columns->end(), name) == columns->end()) {
      for (int s = 0; s < SegmentCount(type, has_nulls); ++s) PS_RETURN_IF_ERROR(SkipSegment(r));
      continue;
    }
    Column col(type);
    auto& validity = col.mutable_validity();
    if (type == TypeId::kNull) {
      validity.assign(n, 0);
    } else if (has_nulls) {
      PS_RETURN_IF_ERROR(GetSegment(r, &validity, 1, n));
    } else {
      validity.assign(n, 1);
    }
    switch (type) {
      case TypeId::kBool:
      case TypeId::kInt64:
      case TypeId::kTimestamp:
        PS_RETURN_IF_ERROR(GetSegment(r, &col.mutable_ints(), 8, n * 8));
        break;
      case TypeId::kDouble:
        PS_RETURN_IF_ERROR(GetSegment(r, &col.mutable_doubles(), 8, n * 8));
        break;
      case TypeId::kString:
      case TypeId::kRaw:
      case TypeId::kDoubleArray: {
        PS_RETURN_IF_ERROR(GetSegment(r, &lengths, 4, n * 4));
        auto& off = col.mutable_offsets();
        off.resize(n + 1);
        off[0] = 0;
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < n; ++i) {
          total += lengths[i];
          off[i + 1] = total;
        }
        if (type == TypeId::kDoubleArray) {
          PS_RETURN_IF_ERROR(GetSegment(r, &col.mutable_doubles(), 8, total * 8));
        } else {
          PS_RETURN_IF_ERROR(GetSegment(r, &col.mutable_bytes(), 1, total));
        }
        break;
      }
      case TypeId::kNull:
        break;
    }
    out.AddColumn(std::string(name), std::move(col));
  }
  return out;
}

}  // namespace pinstream::state
