// Chunk codec: many rows of a delta table in one RocksDB value, column by column.
//
//   "PSC1" | varint rows | varint columns | per column:
//       name (length-prefixed) | type byte | flags byte (1 = has nulls) | segments
//   segments of a column:
//       [validity: one byte per row, only when it has nulls]
//       bool/int64/timestamp/double: 8 bytes per row (little-endian)
//       string/raw:    4-byte length per row, then the bytes
//       array<double>: 4-byte element count per row, then the elements
//   a segment: varint raw size | codec byte (0 raw, 1 LZ4, 2 zstd) | varint stored size | bytes
//
// Segments are compressed one by one straight from the column's buffers and decompressed straight
// into the decoded column's vectors (no intermediate copies). A scan that needs 3 of 11 columns
// skips the other 8 without decompressing them (projection push-down from SQL). Every decode is
// bounds-checked: damaged bytes give Corruption, never a crash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/record_batch.h"

namespace pinstream::state {

// How a chunk's segments are compressed (storage.table_compression). A segment that would not
// shrink by 1/16 is stored raw whatever the codec; a reader decodes every codec.
enum class ChunkCodec { kNone, kLz4, kZstd };

// "none" | "lz4" | "zstd"; InvalidArgument otherwise.
Result<ChunkCodec> ParseChunkCodec(std::string_view name);

// Encodes rows [begin, end) of `batch`.
std::string EncodeChunk(const RecordBatch& batch, std::size_t begin, std::size_t end,
                        ChunkCodec codec = ChunkCodec::kLz4);

// Decodes the columns named in `columns` (all columns when null). Columns the chunk lacks are
// absent from the result; the caller pads them. Row ids are 0..rows-1.
Result<RecordBatch> DecodeChunk(std::string_view chunk,
                                const std::vector<std::string>* columns = nullptr);

// Number of rows, from the header alone.
Result<std::size_t> ChunkRowCount(std::string_view chunk);

}  // namespace pinstream::state
