#include "state/chunk_codec.h"

#include <gtest/gtest.h>

#include "engine/bytes.h"
#include "engine/row_format.h"

namespace pinstream::state {
namespace {

RecordBatch AllTypes(std::size_t n) {
  RecordBatch b;
  Column bl(TypeId::kBool), i(TypeId::kInt64), d(TypeId::kDouble), s(TypeId::kString),
      t(TypeId::kTimestamp), a(TypeId::kDoubleArray), r(TypeId::kRaw), nul(TypeId::kNull);
  for (std::size_t k = 0; k < n; ++k) {
    b.row_ids().push_back(k);
    if (k % 5 == 0) {
      bl.AppendNull();
      i.AppendNull();
      d.AppendNull();
      s.AppendNull();
      t.AppendNull();
      a.AppendNull();
      r.AppendNull();
    } else {
      bl.AppendBool(k % 2);
      i.AppendInt(static_cast<std::int64_t>(k) * 1000003 - 7);
      d.AppendDouble(static_cast<double>(k) / 3);
      s.AppendString(std::string(k % 17, static_cast<char>('a' + k % 26)) + "é");
      t.AppendInt(1598586767000000LL + static_cast<std::int64_t>(k));
      std::vector<double> xy{static_cast<double>(k), -static_cast<double>(k)};
      a.AppendArray(xy);
      r.AppendString(std::string("\0\x01\xff", 3));
    }
    nul.AppendNull();
  }
  b.AddColumn("bl", std::move(bl));
  b.AddColumn("i", std::move(i));
  b.AddColumn("d", std::move(d));
  b.AddColumn("s", std::move(s));
  b.AddColumn("t", std::move(t));
  b.AddColumn("a", std::move(a));
  b.AddColumn("r", std::move(r));
  b.AddColumn("nul", std::move(nul));
  return b;
}

std::string Json(const RecordBatch& b) {
  std::string out;
  for (std::size_t r = 0; r < b.num_rows(); ++r) {
    AppendJsonRow(b, r, &out);
    out.push_back('\n');
  }
  return out;
}

class ChunkCodecTest : public ::testing::TestWithParam<ChunkCodec> {};

INSTANTIATE_TEST_SUITE_P(Codecs, ChunkCodecTest,
                         ::testing::Values(ChunkCodec::kNone, ChunkCodec::kLz4, ChunkCodec::kZstd),
                         [](const auto& info) {
                           switch (info.param) {
                             case ChunkCodec::kNone:
                               return std::string("None");
                             case ChunkCodec::kLz4:
                               return std::string("Lz4");
                             case ChunkCodec::kZstd:
                               return std::string("Zstd");
                           }
                           return std::string("Unknown");
                         });

TEST_P(ChunkCodecTest, RoundTripsEveryTypeWithNulls) {
  RecordBatch b = AllTypes(1000);
  std::string enc = EncodeChunk(b, 0, b.num_rows(), GetParam());
  auto dec = DecodeChunk(enc);
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  ASSERT_TRUE(dec->Validate().ok());
  EXPECT_EQ(Json(*dec), Json(b));
  EXPECT_EQ(*ChunkRowCount(enc), 1000u);
  std::size_t raw = EncodeChunk(b, 0, b.num_rows(), ChunkCodec::kNone).size();
  if (GetParam() != ChunkCodec::kNone) {
    EXPECT_LT(enc.size(), raw / 2);  // compressed
  }
}

TEST_P(ChunkCodecTest, DamagedBytesAreCorruptionNeverACrash) {
  RecordBatch b = AllTypes(200);
  std::string enc = EncodeChunk(b, 0, b.num_rows(), GetParam());
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{3}, std::size_t{9}, enc.size() / 2, enc.size() - 1}) {
    auto r = DecodeChunk(std::string_view(enc).substr(0, cut));
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
  for (std::size_t pos = 4; pos < enc.size(); pos += enc.size() / 37 + 1) {
    std::string bad = enc;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    auto r = DecodeChunk(
        bad);  // may decode (a flipped string byte is still a string) but must not crash
    if (r.ok()) {
      EXPECT_TRUE(r->Validate().ok());
    }
  }
}

TEST(ChunkCodecNames, ZstdIsSmallestNoneLargestAndUnknownNamesAreRefused) {
  RecordBatch b = AllTypes(5000);
  std::size_t none = EncodeChunk(b, 0, b.num_rows(), *ParseChunkCodec("none")).size();
  std::size_t lz4 = EncodeChunk(b, 0, b.num_rows(), *ParseChunkCodec("lz4")).size();
  std::size_t zstd = EncodeChunk(b, 0, b.num_rows(), *ParseChunkCodec("zstd")).size();
  EXPECT_LT(lz4, none);
  EXPECT_LT(zstd, lz4);
  auto bad = ParseChunkCodec("snappy");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("none, lz4 or zstd"), std::string::npos);
}

TEST(ChunkCodecTest, EncodesASubrangeAndDecodesOnlyProjectedColumns) {
  RecordBatch b = AllTypes(50);
  std::string enc = EncodeChunk(b, 10, 20);
  std::vector<std::string> cols{"s", "i"};
  auto dec = DecodeChunk(enc, &cols);
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(dec->num_columns(), 2u);
  EXPECT_EQ(dec->num_rows(), 10u);
  EXPECT_EQ(dec->name(0), "i");  // chunk order
  EXPECT_EQ(dec->column(0).GetValue(1).int_value(), 11 * 1000003 - 7);
}

// Found by the chunk_codec fuzzer: a damaged header or segment size made the decoder allocate
// what it claimed (gigabytes) before finding the chunk short. Now Corruption, allocating nothing.
TEST(ChunkCodecDamageTest, ClaimedSizesAreCheckedBeforeAnythingIsAllocated) {
  auto header = [](std::uint64_t rows, std::uint64_t cols) {
    std::string c = "PSC1";
    PutVarint64(&c, rows);
    PutVarint64(&c, cols);
    return c;
  };
  auto too_many_rows = DecodeChunk(header(1u << 30, 1));
  ASSERT_FALSE(too_many_rows.ok());
  EXPECT_EQ(too_many_rows.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeChunk(header(1u << 20, 5000)).status().code(), StatusCode::kCorruption);

  // Four strings of 4 GiB - 1 each: a 16-GiB data segment "compressed" into 10 bytes.
  std::string c = header(4, 1);
  PutLengthPrefixed(&c, "s");
  c.push_back(static_cast<char>(TypeId::kString));
  c.push_back(0);       // no nulls
  PutVarint64(&c, 16);  // lengths: raw 16 bytes, stored raw
  c.push_back(0);
  PutVarint64(&c, 16);
  c.append(16, '\xff');
  PutVarint64(&c, 4ULL * 0xFFFFFFFFULL);  // data: claims 16 GiB ...
  c.push_back(1);                         // ... as LZ4 ...
  PutVarint64(&c, 10);                    // ... in 10 bytes
  c.append(10, '\0');
  auto huge = DecodeChunk(c);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kCorruption);
  EXPECT_NE(huge.status().message().find("LZ4 segment size implausible"), std::string::npos)
      << huge.status().message();
}

}  // namespace
}  // namespace pinstream::state
