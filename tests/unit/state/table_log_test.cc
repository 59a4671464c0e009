#include "state/table_log.h"

#include <gtest/gtest.h>

namespace pinstream::state {
namespace {

CommitInfo Append(std::int64_t v, std::int64_t rows, std::int64_t chunks = 1) {
  CommitInfo c;
  c.version = v;
  c.rows_added = rows;
  c.chunks = chunks;
  c.bytes = 100 * chunks;
  return c;
}

TEST(LiveSetTest, AppendsExtendOneRangeAndRemovalsCutIt) {
  std::vector<VersionRange> live;
  for (std::int64_t v = 0; v < 10; ++v) AddVersion(&live, v);
  EXPECT_EQ(live, (std::vector<VersionRange>{{0, 9}}));
  RemoveRange(&live, {3, 5});
  EXPECT_EQ(live, (std::vector<VersionRange>{{0, 2}, {6, 9}}));
  AddVersion(&live, 10);
  EXPECT_EQ(live, (std::vector<VersionRange>{{0, 2}, {6, 10}}));
  RemoveRange(&live, {0, 7});
  EXPECT_EQ(live, (std::vector<VersionRange>{{8, 10}}));
  EXPECT_EQ(Intersect({{0, 2}, {6, 10}}, {1, 7}), (std::vector<VersionRange>{{1, 2}, {6, 7}}));
}

TEST(TableStateTest, ApplyFoldsAppendsOverwritesChangesAndRewrites) {
  TableState s;
  ASSERT_TRUE(s.Apply(Append(0, 10)).ok());
  ASSERT_TRUE(s.Apply(Append(1, 5)).ok());
  EXPECT_EQ(s.num_rows, 15);
  EXPECT_EQ(s.live_chunks, 2);
  // A changes commit: 3 rows in, 2 rows of version 0's chunk out.
  CommitInfo ch = Append(2, 3);
  ch.mode = WriteMode::kUpdate;
  ch.rows_removed = 2;
  ch.dv_updates = {DvUpdate{ChunkId{0, 0}, 2}};
  ASSERT_TRUE(s.Apply(ch).ok());
  EXPECT_EQ(s.num_rows, 16);
  ASSERT_EQ(s.dvs.size(), 1u);
  EXPECT_EQ(s.dvs.begin()->second.dv_version, 2);
  // A rewrite of versions 0..1 (OPTIMIZE): their chunks and deletion vectors leave.
  CommitInfo opt = Append(3, 13, 1);
  opt.data_change = false;
  opt.rows_removed = 13;
  opt.chunks_removed = 2;
  opt.bytes_removed = 200;
  opt.removed = {{0, 1}};
  ASSERT_TRUE(s.Apply(opt).ok());
  EXPECT_EQ(s.live, (std::vector<VersionRange>{{2, 3}}));
  EXPECT_TRUE(s.dvs.empty());
  EXPECT_EQ(s.num_rows, 16);
  EXPECT_EQ(s.live_chunks, 2);
  EXPECT_FALSE(s.IsLive(1));
  EXPECT_TRUE(s.IsLive(3));
  CommitInfo ow = Append(4, 7);
  ow.mode = WriteMode::kOverwrite;
  ASSERT_TRUE(s.Apply(ow).ok());
  EXPECT_EQ(s.live, (std::vector<VersionRange>{{4, 4}}));
  EXPECT_EQ(s.num_rows, 7);
  // Gaps are refused.
  EXPECT_EQ(s.Apply(Append(9, 1)).code(), StatusCode::kCorruption);
}

TEST(TableStateTest, CheckpointRoundTripsTheState) {
  Schema schema({Field{"id", TypeId::kInt64, true}, Field{"s", TypeId::kString, true}});
  TableState s;
  s.version = 41;
  s.timestamp_ms = 1234;
  s.schema_id = 0;
  s.live = {{0, 3}, {7, 41}};
  s.dvs[ChunkId{2, 1}] = DvRef{30, 4};
  s.num_rows = 99;
  s.live_chunks = 12;
  s.live_bytes = 3456;
  ColumnStats id{"id", 1, Value::Int64(-5), Value::Int64(70), false};
  ColumnStats str{"s", 0, Value::String("a"), Value::String("zz"), false};
  s.stats = {id, str};
  s.txns["q1"] = TxnMark{2, 17, 40};
  s.key_columns = {"id"};
  s.oldest_readable = 5;
  auto back = TableState::FromCheckpoint(s.ToCheckpointJson(), {{0, schema}});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->version, 41);
  EXPECT_EQ(back->live, s.live);
  ASSERT_EQ(back->dvs.size(), 1u);
  EXPECT_EQ(back->dvs.begin()->first, (ChunkId{2, 1}));
  EXPECT_EQ(back->dvs.begin()->second.deleted, 4);
  EXPECT_EQ(back->num_rows, 99);
  EXPECT_EQ(back->live_bytes, 3456);
  EXPECT_EQ(back->stats[0].max.int_value(), 70);
  EXPECT_EQ(back->stats[1].min.string_value(), "a");
  EXPECT_EQ(back->txns.at("q1").batch, 17);
  EXPECT_EQ(back->key_columns, std::vector<std::string>{"id"});
  EXPECT_EQ(back->oldest_readable, 5);
  EXPECT_EQ(TableState::FromCheckpoint("{\"version\":1}", {}).status().code(),
            StatusCode::kCorruption);
}

// Found by the table_log fuzzer: a float too large for an integer field ("timestamp":7e93) was
// converted to int64 (undefined behaviour) instead of being reported.
TEST(CommitInfoTest, ANumberOutOfAnIntegerFieldsRangeIsCorruption) {
  EXPECT_EQ(CommitInfo::Parse(R"({"version":6,"timestamp":7.7e93})").status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(CommitInfo::Parse(R"({"version":-1e300})").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(
      TableState::FromCheckpoint(R"({"checkpointFormat":1e40,"version":1})", {}).status().code(),
      StatusCode::kCorruption);
  // A double column's bounds are doubles of any size.
  std::map<int, Schema> schemas = {{0, Schema({{"d", TypeId::kDouble}})}};
  auto c = CommitInfo::Parse(
      R"({"version":1,"schemaId":0,"stats":{"numRecords":1,"minValues":{"d":-1e300},)"
      R"("maxValues":{"d":1e300},"nullCount":{"d":0}}})",
      &schemas);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
}

TEST(CommitInfoTest, NewFieldsRoundTripAndLegacyEntriesReadAsAppends) {
  CommitInfo c = Append(7, 3);
  c.operation = "OPTIMIZE";
  c.data_change = false;
  c.rows_removed = 3;
  c.chunks_removed = 9;
  c.removed = {{1, 6}};
  c.dv_updates = {DvUpdate{ChunkId{0, 2}, 5}};
  c.key_columns = {"k"};
  c.oldest_readable = 2;
  c.live = std::vector<VersionRange>{{0, 7}};
  c.metrics = {{"durationMs", 12}};
  auto back = CommitInfo::Parse(c.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->data_change);
  EXPECT_EQ(back->removed, c.removed);
  EXPECT_EQ(back->dv_updates[0].chunk, (ChunkId{0, 2}));
  EXPECT_EQ(back->dv_updates[0].deleted, 5);
  EXPECT_EQ(back->oldest_readable, 2);
  EXPECT_EQ(*back->live, *c.live);
  EXPECT_EQ(back->metrics, c.metrics);
  auto legacy = CommitInfo::Parse(
      R"({"version":3,"timestamp":5,"operation":"WRITE","operationParameters":{"outputMode":)"
      R"("Overwrite"},"writer":"j","rowsAdded":2,"chunks":1,"bytes":10,"schemaId":0})");
  ASSERT_TRUE(legacy.ok());
  EXPECT_TRUE(legacy->overwrite());
  EXPECT_TRUE(legacy->data_change);
  EXPECT_EQ(legacy->rows_removed, 0);
}

TEST(VersionStatsTest, RoundTripsEveryBoundType) {
  VersionStats v;
  v.version = 9;
  v.rows = 4;
  v.stats = {ColumnStats{"i", 1, Value::Int64(-3), Value::Int64(8), false},
             ColumnStats{"d", 0, Value::Double(-0.5), Value::Double(2.25), false},
             ColumnStats{"t", 0, Value::Timestamp(5), Value::Timestamp(6), false},
             ColumnStats{"b", 0, Value::Bool(false), Value::Bool(true), false},
             ColumnStats{"s", 2, Value::String(""), Value::String("zz"), false},
             ColumnStats{"u", 0, Value(), Value(), true}};
  auto back = VersionStats::Decode(9, v.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->stats.size(), 6u);
  EXPECT_EQ(back->rows, 4);
  EXPECT_EQ(back->stats[0].min.int_value(), -3);
  EXPECT_EQ(back->stats[1].max.double_value(), 2.25);
  EXPECT_EQ(back->stats[2].min.type(), TypeId::kTimestamp);
  EXPECT_TRUE(back->stats[3].max.bool_value());
  EXPECT_EQ(back->stats[4].max.string_value(), "zz");
  EXPECT_TRUE(back->stats[5].bounds_unknown);
  EXPECT_TRUE(back->stats[5].min.is_null());
  std::string damaged = v.Encode();
  damaged.pop_back();
  EXPECT_EQ(VersionStats::Decode(9, damaged).status().code(), StatusCode::kCorruption);
}

TEST(DeletionVectorTest, RoundTripsAndRefusesDamage) {
  std::vector<std::uint32_t> rows = {0, 1, 7, 300, 65535, 4000000};
  auto back = DecodeDeletionVector(EncodeDeletionVector(rows));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, rows);
  EXPECT_TRUE(DecodeDeletionVector(EncodeDeletionVector({}))->empty());
  std::string bad = EncodeDeletionVector(rows);
  bad.push_back('\x01');
  EXPECT_FALSE(DecodeDeletionVector(bad).ok());
  EXPECT_FALSE(DecodeDeletionVector("\x05").ok());
}

}  // namespace
}  // namespace pinstream::state
