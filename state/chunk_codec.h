// Chunk codec: many rows of a delta table in one RocksDB value, column by column.
//
//   "PSC1" | varint rows | varint columns | per column:
//       name (length-prefixed) | type byte | flags byte (1 = has nulls, 2 = LZ4) |
//       varint raw size | varint stored size | stored bytes
//   column payload (before compression):
//       [validity: one byte per row, only when it has nulls]
//       bool/int64/timestamp/double: 8 bytes per row (little-endian)
//       string/raw:    4-byte length per row, then the bytes
//       array<double>: 4-byte element count per row, then the elements
//
// Each column is compressed on its own, so a scan that needs 3 of 11 columns decompresses and
// decodes only those 3 (projection push-down from SQL). Every decode is bounds-checked: damaged
// bytes give Corruption, never a crash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/record_batch.h"

namespace pinstream::state {

// Encodes rows [begin, end) of `batch`.
std::string EncodeChunk(const RecordBatch& batch, std::size_t begin, std::size_t end);

// Decodes the columns named in `columns` (all columns when null). Columns the chunk lacks are
// absent from the result; the caller pads them. Row ids are 0..rows-1.
Result<RecordBatch> DecodeChunk(std::string_view chunk, const std::vector<std::string>* columns = nullptr);

// Number of rows, from the header alone.
Result<std::size_t> ChunkRowCount(std::string_view chunk);

}  // namespace pinstream::state
