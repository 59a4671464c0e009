#include "connectors/log_chunk.h"

#include <gtest/gtest.h>

#include <vector>

namespace pinstream::connectors {
namespace {

std::vector<SourceChunk> Build(LogColumns cols, int records, std::size_t max_rows) {
  std::vector<SourceChunk> out;
  auto emit = [&](SourceChunk&& c) {
    out.push_back(std::move(c));
    return Status::Ok();
  };
  LogChunkBuilder b(max_rows, static_cast<std::size_t>(records), cols);
  for (int i = 0; i < records; ++i) {
    std::string value = "{\"n\":" + std::to_string(i) + "}";
    std::optional<std::string_view> key;
    if (i % 2 == 0) key = "k";
    std::optional<std::int64_t> ts;
    if (i != 1) ts = 1000 + i;
    EXPECT_TRUE(b.Append(key, value, "t", 3, 40 + i, ts, emit).ok());
  }
  EXPECT_TRUE(b.Flush(emit).ok());
  return out;
}

TEST(LogChunkBuilderTest, BuildsEveryColumnByDefault) {
  auto chunks = Build(LogColumns{}, 5, 3);
  ASSERT_EQ(chunks.size(), 2u);
  const RecordBatch& b = chunks[0].batch;
  EXPECT_EQ(b.names(), (std::vector<std::string>{"key", "value", "topic", "partition", "offset",
                                                 "timestamp"}));
  ASSERT_EQ(b.num_rows(), 3u);
  EXPECT_EQ(b.column(0).Str(0), "k");
  EXPECT_TRUE(b.column(0).IsNull(1));
  EXPECT_EQ(b.column(1).Str(2), "{\"n\":2}");
  EXPECT_EQ(b.column(2).Str(1), "t");
  EXPECT_EQ(b.column(3).Int(0), 3);
  EXPECT_EQ(b.column(4).Int(2), 42);
  EXPECT_TRUE(b.column(5).IsNull(1));
  EXPECT_EQ(b.column(5).Int(2), 1002);
  EXPECT_EQ(chunks[0].offsets, (std::vector<std::int64_t>{40, 41, 42}));
  EXPECT_EQ(chunks[1].offsets, (std::vector<std::int64_t>{43, 44}));
  EXPECT_EQ(chunks[1].batch.num_columns(), 6u);
}

// Column pruning (Source::PruneColumns): only the required columns, and always `value`.
TEST(LogChunkBuilderTest, PrunedChunksHoldTheRequiredColumnsAndTheRawValue) {
  auto chunks = Build(LogColumns::Only({"offset", "no_such_column"}), 5, 3);
  ASSERT_EQ(chunks.size(), 2u);
  for (const auto& c : chunks) {
    EXPECT_EQ(c.batch.names(), (std::vector<std::string>{"value", "offset"}));
    EXPECT_TRUE(c.batch.Validate().ok());
  }
  EXPECT_EQ(chunks[1].batch.column(0).Str(1), "{\"n\":4}");
  EXPECT_EQ(chunks[1].batch.column(1).Int(0), 43);
  EXPECT_EQ(chunks[1].offsets, (std::vector<std::int64_t>{43, 44}));

  auto only_value = Build(LogColumns::Only({"value"}), 2, 10);
  ASSERT_EQ(only_value.size(), 1u);
  EXPECT_EQ(only_value[0].batch.names(), (std::vector<std::string>{"value"}));
  EXPECT_EQ(only_value[0].batch.num_rows(), 2u);
}

// The oldest and newest arrival of each chunk's records (progress' ingestToVisibleMs), whether
// or not `timestamp` is a column; records without a timestamp do not count.
TEST(LogChunkBuilderTest, ChunksKnowTheirRecordsArrivalTimes) {
  for (LogColumns cols : {LogColumns{}, LogColumns::Only({"value"})}) {
    auto chunks = Build(cols, 5, 3);  // timestamps 1000, none, 1002 | 1003, 1004
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[0].min_arrival_us, 1000);
    EXPECT_EQ(chunks[0].max_arrival_us, 1002);
    EXPECT_EQ(chunks[1].min_arrival_us, 1003);
    EXPECT_EQ(chunks[1].max_arrival_us, 1004);
  }
  SourceChunk none;
  EXPECT_EQ(none.min_arrival_us, -1);
}

}  // namespace
}  // namespace pinstream::connectors
