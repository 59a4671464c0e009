// libFuzzer target for the chunk codec's decoder (state/chunk_codec.h): any bytes read from a
// chunk key decode to a valid batch or give Corruption — never a crash, a hang, an out-of-bounds
// read or a batch whose columns disagree. A batch that decodes must survive a round trip
// (encoded again, decoded again: the same rows), its row count must match the header's, and a
// projection onto its first column must decode to that column.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/row_format.h"
#include "state/chunk_codec.h"

using namespace pinstream;

namespace {

std::string Json(const RecordBatch& b) {
  std::string out;
  for (std::size_t r = 0; r < b.num_rows(); ++r) {
    AppendJsonRow(b, r, &out);
    out.push_back('\n');
  }
  return out;
}

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view chunk(reinterpret_cast<const char*>(data), size);
  auto dec = state::DecodeChunk(chunk);
  if (!dec.ok()) {
    Require(dec.status().code() == StatusCode::kCorruption);
    Require(!dec.status().message().empty());
    return 0;
  }
  const RecordBatch& b = *dec;
  Require(b.Validate().ok());
  auto rows = state::ChunkRowCount(chunk);
  Require(rows.ok() && *rows == b.num_rows());
  // A few compressed bytes may decode to millions of valid rows (a compression ratio, not a
  // fault): the round trips below, as JSON, would spend the whole run (and gigabytes) on one
  // such input. Large batches stop after the checks above.
  if (b.num_rows() > 65536) return 0;
  std::string json = Json(b);
  for (auto codec : {state::ChunkCodec::kNone, state::ChunkCodec::kLz4, state::ChunkCodec::kZstd}) {
    auto again = state::DecodeChunk(state::EncodeChunk(b, 0, b.num_rows(), codec));
    Require(again.ok() && Json(*again) == json);
  }
  if (b.num_columns() > 0) {
    std::vector<std::string> first{b.name(0)};
    auto one = state::DecodeChunk(chunk, &first);
    Require(one.ok() && one->num_columns() >= 1 && one->num_rows() == b.num_rows());
  }
  return 0;
}
