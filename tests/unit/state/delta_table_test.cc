#include "state/delta_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <thread>

#include "engine/row_format.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

using pinstream::testing::TempDir;

RecordBatch Rows(int from, int to) { return pinstream::testing::IdNameRows(from, to); }

std::vector<std::int64_t> Ids(const TableSnapshot& s) {
  std::vector<std::int64_t> out;
  auto all = s.ReadAll();
  EXPECT_TRUE(all.ok());
  int c = all->FindColumn("id");
  for (std::size_t r = 0; r < all->num_rows(); ++r)
    out.push_back(all->column(static_cast<std::size_t>(c)).Int(r));
  return out;
}

Status Write(Store* store, DeltaTable* t, const RecordBatch& rows, WriteOptions opt = {}) {
  auto txn = store->BeginTxn();
  Status st = t->StageWrite(*txn, rows, opt);
  if (!st.ok()) return st;
  return store->Commit(std::move(txn));
}

// Every test runs twice: versions written through the WAL in the commit transaction, and
// versions whose chunks are ingested as SST files of their own ahead of it (large writes).
class DeltaTableTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { store_ = std::move(Store::Open(Options())).value(); }
  StoreOptions Options() const {
    StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    if (GetParam()) o.ingest_min_bytes = 1;
    return o;
  }
  Status Write(DeltaTable* t, const RecordBatch& rows, WriteOptions opt = {}) {
    auto txn = store_->BeginTxn();
    Status st = t->StageWrite(*txn, rows, opt);
    if (!st.ok()) return st;
    return store_->Commit(std::move(txn));
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(DeltaTableTest, EachWriteIsAVersionAndTimeTravelSeesExactlyItsRows) {
  DeltaTable* t = *store_->Table("t", true);
  ASSERT_TRUE(Write(t, Rows(0, 3)).ok());
  ASSERT_TRUE(Write(t, Rows(3, 5)).ok());
  WriteOptions small;
  small.rows_per_chunk = 2;  // several chunks in one version
  ASSERT_TRUE(Write(t, Rows(5, 10), small).ok());
  EXPECT_EQ(t->latest_version(), 2);
  EXPECT_EQ(t->num_rows(), 10);
  EXPECT_EQ(Ids(**t->Snapshot(0)), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(Ids(**t->Snapshot(1)), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto missing = t->Snapshot(7);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kOutOfRange);
}

TEST_P(DeltaTableTest, SnapshotIsStableWhileTheWriterGoesOn) {
  DeltaTable* t = *store_->Table("t", true);
  ASSERT_TRUE(Write(t, Rows(0, 3)).ok());
  auto snap = std::move(t->Snapshot()).value();
  ASSERT_TRUE(Write(t, Rows(3, 6)).ok());
  EXPECT_EQ(Ids(*snap).size(), 3u);
  EXPECT_EQ(Ids(**t->Snapshot()).size(), 6u);
}

TEST_P(DeltaTableTest, TypeIncompatibleWriteIsRefusedNamingColumnAndTypes) {
  DeltaTable* t = *store_->Table("t", true);
  ASSERT_TRUE(Write(t, Rows(0, 2)).ok());
  RecordBatch bad;
  bad.row_ids() = {0};
  Column id(TypeId::kString);
  id.AppendString("seven");
  bad.AddColumn("id", std::move(id));
  Status st = Write(t, bad);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("column 'id' is int64 in the table but string"), std::string::npos)
      << st.message();
  EXPECT_EQ(t->latest_version(), 0);
}

TEST_P(DeltaTableTest, AddingANullableColumnEvolvesTheSchemaAndOldRowsReadNull) {
  DeltaTable* t = *store_->Table("t", true);
  ASSERT_TRUE(Write(t, Rows(0, 2)).ok());
  RecordBatch more = Rows(2, 3);
  Column extra(TypeId::kDouble);
  extra.AppendDouble(1.5);
  more.AddColumn("score", std::move(extra));
  ASSERT_TRUE(Write(t, more).ok());
  EXPECT_EQ(t->schema().ToString(), "id: int64, name: string, score: double");
  auto hist = *t->History();
  EXPECT_EQ(hist[0].added_columns, std::vector<std::string>{"score"});
  auto all = (*t->Snapshot())->ReadAll();
  EXPECT_EQ(testing::ColumnStrings(*all, "score"),
            (std::vector<std::string>{"null", "null", "1.5"}));
  // Version 0 is read with its own schema.
  EXPECT_EQ((*t->Snapshot(0))->schema().size(), 2u);
}

TEST_P(DeltaTableTest, SecondCommitOfSameBatchIsRejected) {
  DeltaTable* t = *store_->Table("t", true);
  WriteOptions opt;
  opt.app_id = "query-1";
  opt.writer = "q";
  opt.batch_id = 4;
  ASSERT_TRUE(Write(t, Rows(0, 1), opt).ok());
  Status st = Write(t, Rows(1, 2), opt);
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("batch 4"), std::string::npos) << st.message();
  opt.batch_id = 3;  // older batches too
  EXPECT_EQ(Write(t, Rows(1, 2), opt).code(), StatusCode::kAlreadyExists);
  opt.epoch = 1;  // after `checkpoint rewind` the epoch moves on and batch 3 is new again
  EXPECT_TRUE(Write(t, Rows(1, 2), opt).ok());
  EXPECT_EQ(t->num_rows(), 2);
}

TEST_P(DeltaTableTest, OverwriteVersionHidesEarlierRowsButTimeTravelKeepsThem) {
  DeltaTable* t = *store_->Table("r", true);
  ASSERT_TRUE(Write(t, Rows(0, 3)).ok());
  WriteOptions ow;
  ow.overwrite = true;
  ow.operation = "WRITE";
  ASSERT_TRUE(Write(t, Rows(10, 12), ow).ok());
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{10, 11}));
  EXPECT_EQ(Ids(**t->Snapshot(0)), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(t->num_rows(), 2);
}

TEST_P(DeltaTableTest, HeadIsRebuiltFromStorageOnReopen) {
  {
    DeltaTable* t = *store_->Table("t", true);
    ASSERT_TRUE(Write(t, Rows(0, 4)).ok());
    ASSERT_TRUE(Write(t, Rows(4, 6)).ok());
  }
  store_.reset();
  store_ = std::move(Store::Open(Options())).value();
  auto t = store_->Table("t", false);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->latest_version(), 1);
  EXPECT_EQ((*t)->num_rows(), 6);
  auto hist = *(*t)->History();
  ASSERT_EQ(hist.size(), 2u);
  EXPECT_EQ(hist[1].stats[0].min.int_value(), 0);
  EXPECT_EQ(hist[1].stats[0].max.int_value(), 3);
  EXPECT_EQ(store_->ListTables(), std::vector<std::string>{"t"});
  EXPECT_EQ(store_->Table("nope", false).status().code(), StatusCode::kNotFound);
}

TEST_P(DeltaTableTest, VersionsWrittenUnderEachTableCompressionReadBackTogether) {
  // The same rows written as three versions, the store reopened with another
  // storage.table_compression before each: every version reads back, and its stored bytes show
  // the codec it was written with.
  RecordBatch rows;
  {
    Column id(TypeId::kInt64), text(TypeId::kString);
    for (int i = 0; i < 2000; ++i) {
      rows.row_ids().push_back(static_cast<std::uint64_t>(i));
      id.AppendInt(i);
      text.AppendString("https://i.pinimg.com/originals/" + std::to_string(i % 97) + "/pin.jpg");
    }
    rows.AddColumn("id", std::move(id));
    rows.AddColumn("text", std::move(text));
  }
  std::vector<std::int64_t> bytes;
  for (const char* codec : {"none", "lz4", "zstd"}) {
    store_.reset();
    StoreOptions o = Options();
    o.table_compression = codec;
    store_ = std::move(Store::Open(o)).value();
    DeltaTable* t = *store_->Table("t", true);
    ASSERT_TRUE(Write(t, rows).ok()) << codec;
    bytes.push_back((*t->History(1)).front().bytes);  // newest first
  }
  EXPECT_GT(bytes[0], 2 * bytes[1]);  // none vs lz4
  EXPECT_LT(bytes[2], bytes[1]);      // zstd vs lz4
  auto all = (*(*store_->Table("t", false))->Snapshot())->ReadAll();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->num_rows(), 6000u);
  for (std::size_t r = 0; r < all->num_rows(); ++r) {
    ASSERT_EQ(all->column(0).Int(r), static_cast<std::int64_t>(r % 2000));
    ASSERT_EQ(all->column(1).Str(r), rows.column(1).Str(r % 2000));
  }
  StoreOptions bad = Options();
  bad.table_compression = "brotli";
  store_.reset();
  auto refused = Store::Open(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(DeltaTableTest, FailedCommitLeavesNoVersion) {
  DeltaTable* t = *store_->Table("t", true);
  {
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(t->StageWrite(*txn, Rows(0, 2), {}).ok());
    // dropped without commit (e.g. another sink of the batch failed)
  }
  EXPECT_EQ(t->latest_version(), -1);
  ASSERT_TRUE(Write(t, Rows(0, 1)).ok());
  EXPECT_EQ(t->latest_version(), 0);
}

// String min/max are decided on 8-byte prefixes first: strings that share them, are shorter
// than 8 bytes, hold zero bytes or multi-byte characters must still give the byte-wise min and
// max (which for UTF-8 is code point order).
TEST_P(DeltaTableTest, StringStatsAreTheByteWiseMinAndMax) {
  DeltaTable* t = *store_->Table("s", true);
  std::mt19937 rng(7);
  const std::vector<std::string> units = {
      std::string(1, '\0'), "\x01", "a", " ", "b", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
      "\xf4\x8f\xbf\xbf"};
  for (int round = 0; round < 20; ++round) {
    RecordBatch b;
    Column c(TypeId::kString);
    std::vector<std::string> vals;
    for (int i = 0; i < 50; ++i) {
      std::string v;
      for (std::size_t k = rng() % 10; k > 0; --k) v += units[rng() % units.size()];
      vals.push_back(v);
      b.row_ids().push_back(static_cast<RowId>(i));
      c.AppendString(v);
    }
    b.AddColumn("v", std::move(c));
    ASSERT_TRUE(Write(t, b).ok());
    auto hist = *t->History(1);
    ASSERT_EQ(hist.size(), 1u);
    EXPECT_EQ(hist[0].stats[0].min.string_value(), *std::min_element(vals.begin(), vals.end()));
    EXPECT_EQ(hist[0].stats[0].max.string_value(), *std::max_element(vals.begin(), vals.end()));
  }
}

// Bytes that are not UTF-8 in a string column (a binary Kafka key, a Latin-1 text file) are
// stored; the version's bounds for that column are unknown — also when merged with a chunk whose
// bounds are known — instead of the commit failing on its JSON.
TEST_P(DeltaTableTest, StringsThatAreNotUtf8AreStoredWithUnknownBounds) {
  DeltaTable* t = *store_->Table("bin", true);
  auto rows = [](std::vector<std::string> vals, RowId first) {
    RecordBatch b;
    Column c(TypeId::kString);
    for (const auto& v : vals) {
      b.row_ids().push_back(first++);
      c.AppendString(v);
    }
    b.AddColumn("k", std::move(c));
    return b;
  };
  std::vector<RecordBatch> parts = {rows({"abc", "abd"}, 0), rows({"caf\xe9", "\xff\xfe"}, 2)};
  auto txn = store_->BeginTxn();
  WriteOptions one_chunk_each;
  one_chunk_each.rows_per_chunk = 2;
  ASSERT_TRUE(t->StageWrite(*txn, parts, one_chunk_each).ok());
  ASSERT_TRUE(store_->Commit(std::move(txn)).ok());
  auto all = (*t->Snapshot())->ReadAll();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->column(0).Str(3), "\xff\xfe");
  auto hist = *t->History(1);
  EXPECT_TRUE(hist[0].stats[0].min.is_null());
  EXPECT_TRUE(hist[0].stats[0].max.is_null());
  EXPECT_EQ(hist[0].stats[0].null_count, 0);
  // The history read back from storage agrees (the commit log holds no bounds for `k`).
  store_.reset();
  store_ = std::move(Store::Open(Options())).value();
  auto h2 = *(*store_->Table("bin", false))->History(1);
  EXPECT_TRUE(h2[0].stats[0].min.is_null());
}

TEST_P(DeltaTableTest, AColumnNameThatIsNotUtf8IsRefusedWithAClearError) {
  DeltaTable* t = *store_->Table("latin1", true);
  RecordBatch b;
  b.row_ids() = {0};
  Column c(TypeId::kInt64);
  c.AppendInt(1);
  b.AddColumn("caf\xe9", std::move(c));
  WriteOptions opt;
  opt.writer = "q";
  Status st = Write(t, b, opt);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("column name \"caf\xef\xbf\xbd\" written by 'q' is not UTF-8"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(t->latest_version(), -1);
}

TEST_P(DeltaTableTest, ChunksOfAnAttemptThatNeverCommittedStayHidden) {
  {
    DeltaTable* t = *store_->Table("t", true);
    ASSERT_TRUE(Write(t, Rows(0, 1)).ok());  // version 0
    auto txn = store_->BeginTxn();
    WriteOptions three;
    three.rows_per_chunk = 1;  // version 1 as three chunks (ingested ahead of the commit)
    ASSERT_TRUE(t->StageWrite(*txn, Rows(100, 103), three).ok());
    // the process dies before the commit: the transaction is never written
  }
  store_.reset();
  store_ = std::move(Store::Open(Options())).value();
  DeltaTable* t = *store_->Table("t", false);
  EXPECT_EQ(t->latest_version(), 0);
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{0}));
  // Loading the table dropped the stranded chunks: only version 0's chunk is stored.
  std::size_t stored = 0;
  for (auto it = store_->NewIterator(KeySpace::kTables, TableKey(t->id(), 'C')); it->Valid();
       it->Next())
    ++stored;
  EXPECT_EQ(stored, 1u);
  // The retry writes version 1 again, now as one chunk: only its row is added.
  ASSERT_TRUE(Write(t, Rows(1, 2)).ok());
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{0, 1}));
  WriteOptions two;
  two.rows_per_chunk = 1;
  ASSERT_TRUE(Write(t, Rows(2, 4), two).ok());
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(Ids(**t->Snapshot(1)), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(t->num_rows(), 4);
}

TEST_P(DeltaTableTest, AReaderInstanceSeesIngestedVersionsOnceCommitted) {
  DeltaTable* t = *store_->Table("t", true);
  ASSERT_TRUE(Write(t, Rows(0, 2)).ok());
  auto r = Store::OpenReader(dir_.path() + "/data");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto rt = (*r)->Table("t", false);
  ASSERT_TRUE(rt.ok());
  EXPECT_EQ(Ids(**(*rt)->Snapshot()), (std::vector<std::int64_t>{0, 1}));
  {
    auto txn = store_->BeginTxn();
    ASSERT_TRUE(t->StageWrite(*txn, Rows(50, 52), {}).ok());  // staged, not committed
  }
  ASSERT_TRUE(Write(t, Rows(2, 4)).ok());
  ASSERT_TRUE((*r)->CatchUp().ok());
  EXPECT_EQ(Ids(**(*rt)->Snapshot()), (std::vector<std::int64_t>{0, 1, 2, 3}));
}

TEST_P(DeltaTableTest, ARetryWithFewerChunksDeletesWhatItsFailedAttemptLeft) {
  // In one process: an attempt at version 1 writes three chunks (ingested ahead of its commit in
  // the IngestedChunks mode) and is discarded; the retry writes one chunk and commits. Scans read
  // every chunk of a live version, so the retry's commit must delete the other two.
  DeltaTable* t = *store_->Table("t", true);
  ASSERT_TRUE(Write(t, Rows(0, 1)).ok());
  {
    auto txn = store_->BeginTxn();
    WriteOptions three;
    three.rows_per_chunk = 1;
    ASSERT_TRUE(t->StageWrite(*txn, Rows(100, 103), three).ok());
  }
  ASSERT_TRUE(Write(t, Rows(1, 2)).ok());
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(t->num_rows(), 2);
}

// Builds `n` versions of one row each, quickly: one unsynced commit each.
void AppendVersions(Store* store, DeltaTable* t, int from, int n) {
  auto txn = store->BeginTxn();
  for (int i = from; i < from + n; ++i) {
    ASSERT_TRUE(t->StageWrite(*txn, Rows(i, i + 1), {}).ok());
    ASSERT_TRUE(store->Write(*txn, /*sync=*/false).ok());
  }
}

TEST_P(DeltaTableTest, ChangesInsertRetractAndReinsertRowsByKey) {
  DeltaTable* t = *store_->Table("agg", true);
  auto changes = [&](RecordBatch rows, std::vector<std::int64_t> weights) {
    rows.SetWeights(std::move(weights));
    auto txn = store_->BeginTxn();
    WriteOptions opt;
    opt.operation = "STREAMING UPDATE";
    Status st = t->StageChanges(*txn, std::span<const RecordBatch>(&rows, 1), {"id"}, opt);
    if (!st.ok()) return st;
    return store_->Commit(std::move(txn));
  };
  auto row = [](int id, const char* name) {
    return pinstream::testing::StringBatch({"id", "name"}, {{std::to_string(id), name}});
  };
  auto names = [&](std::optional<std::int64_t> v) {
    auto all = (*t->Snapshot(v))->ReadAll();
    std::vector<std::string> out = testing::ColumnStrings(*all, "name");
    std::sort(out.begin(), out.end());
    return out;
  };
  auto rows = pinstream::testing::StringBatch({"id", "name"}, {{"1", "a"}, {"2", "b"}, {"3", "c"}});
  ASSERT_TRUE(changes(rows, {}).ok());  // v0: three inserts
  // v1: key 2 changes its value: retract the old row, insert the new one.
  auto update = pinstream::testing::StringBatch({"id", "name"}, {{"2", "b"}, {"2", "B"}});
  ASSERT_TRUE(changes(update, {-1, +1}).ok());
  EXPECT_EQ(names(std::nullopt), (std::vector<std::string>{"B", "a", "c"}));
  // v2: key 1 goes away; v3: it comes back.
  ASSERT_TRUE(changes(row(1, "a"), {-1}).ok());
  EXPECT_EQ(names(std::nullopt), (std::vector<std::string>{"B", "c"}));
  ASSERT_TRUE(changes(row(1, "a2"), {+1}).ok());
  EXPECT_EQ(names(std::nullopt), (std::vector<std::string>{"B", "a2", "c"}));
  EXPECT_EQ(t->num_rows(), 3);
  // Time travel shows how the answer evolved.
  EXPECT_EQ(names(0), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(names(1), (std::vector<std::string>{"B", "a", "c"}));
  EXPECT_EQ(names(2), (std::vector<std::string>{"B", "c"}));
  EXPECT_EQ((*t->Snapshot(2))->num_rows(), 2);
  // The log says what each commit added and removed.
  auto hist = *t->History();
  EXPECT_EQ(hist[2].mode, WriteMode::kUpdate);  // version 1
  EXPECT_EQ(hist[2].rows_added, 1);
  EXPECT_EQ(hist[2].rows_removed, 1);
  EXPECT_EQ(hist[2].dv_updates.size(), 1u);
  EXPECT_EQ(hist[3].key_columns, std::vector<std::string>{"id"});  // declared by version 0
  // A retraction that matches nothing is refused and nothing commits.
  Status st = changes(row(9, "z"), {-1});
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_NE(st.message().find("table 'agg' version 4"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("id=9"), std::string::npos) << st.message();
  EXPECT_EQ(t->latest_version(), 3);
  // The index is stored: a new store instance retracts rows written before it opened.
  store_.reset();
  store_ = std::move(Store::Open(Options())).value();
  t = *store_->Table("agg", false);
  ASSERT_TRUE(changes(row(3, "c"), {-1}).ok());
  EXPECT_EQ(names(std::nullopt), (std::vector<std::string>{"B", "a2"}));
  // Other key columns than the declared ones are refused.
  auto txn = store_->BeginTxn();
  EXPECT_EQ(t->StageChanges(*txn, std::span<const RecordBatch>(&rows, 1), {"name"}, {}).code(),
            StatusCode::kInvalidArgument);
  // A plain write refuses weighted rows: they are changes.
  RecordBatch weighted = Rows(50, 51);
  weighted.SetWeights({-1});
  EXPECT_EQ(Write(t, weighted).code(), StatusCode::kInvalidArgument);
}

TEST_P(DeltaTableTest, ChangesWithoutKeyColumnsAreMultisets) {
  DeltaTable* t = *store_->Table("view", true);
  auto changes = [&](std::vector<std::vector<std::string>> rows, std::vector<std::int64_t> w) {
    RecordBatch b = pinstream::testing::StringBatch({"k", "v"}, rows);
    b.SetWeights(std::move(w));
    auto txn = store_->BeginTxn();
    Status st = t->StageChanges(*txn, std::span<const RecordBatch>(&b, 1), {}, {});
    if (!st.ok()) return st;
    return store_->Commit(std::move(txn));
  };
  auto all = [&]() {
    auto b = (*t->Snapshot())->ReadAll();
    std::vector<std::string> out;
    for (std::size_t r = 0; r < b->num_rows(); ++r)
      out.push_back(DisplayValue(b->column(0), r) + DisplayValue(b->column(1), r));
    std::sort(out.begin(), out.end());
    return out;
  };
  // Duplicates are kept; a retraction removes one of them.
  ASSERT_TRUE(changes({{"x", "1"}, {"x", "1"}, {"y", "2"}}, {1, 1, 1}).ok());
  ASSERT_TRUE(changes({{"x", "1"}}, {-1}).ok());
  EXPECT_EQ(all(), (std::vector<std::string>{"x1", "y2"}));
  // Every column is the key: (x, 2) is not (x, 1).
  EXPECT_EQ(changes({{"x", "2"}}, {-1}).code(), StatusCode::kInternal);
  // A retraction with no live row cancels an insert of the same call, in any order.
  ASSERT_TRUE(changes({{"z", "3"}, {"z", "3"}}, {-1, 1}).ok());
  EXPECT_EQ(all(), (std::vector<std::string>{"x1", "y2"}));
  EXPECT_EQ(t->History(1)->front().rows_added, 0);
  // Retracting the last copy, and then the key is unknown.
  ASSERT_TRUE(changes({{"x", "1"}, {"y", "2"}}, {-1, -1}).ok());
  EXPECT_TRUE(all().empty());
  EXPECT_EQ(changes({{"x", "1"}}, {-1}).code(), StatusCode::kInternal);
  // A weight of n is n copies; 0 is nothing.
  ASSERT_TRUE(changes({{"x", "1"}, {"y", "2"}}, {3, 0}).ok());
  EXPECT_EQ(all(), (std::vector<std::string>{"x1", "x1", "x1"}));
  ASSERT_TRUE(changes({{"x", "1"}}, {-2}).ok());
  EXPECT_EQ(all(), (std::vector<std::string>{"x1"}));
  EXPECT_EQ(changes({{"x", "1"}}, {-2}).code(), StatusCode::kInternal);  // only one is left
  EXPECT_EQ(all(), (std::vector<std::string>{"x1"}));
}

TEST_P(DeltaTableTest, TheKeyIndexCoversRowsAppendedBeforeAndAfterTheFirstChangesCommit) {
  DeltaTable* t = *store_->Table("t", true);
  WriteOptions small;
  small.rows_per_chunk = 2;  // several chunks per version
  ASSERT_TRUE(Write(t, Rows(0, 5), small).ok());
  auto retract = [&](int id) {
    RecordBatch b = Rows(id, id + 1);
    b.SetWeights({-1});
    auto txn = store_->BeginTxn();
    Status st = t->StageChanges(*txn, std::span<const RecordBatch>(&b, 1), {"id"}, {});
    if (!st.ok()) return st;
    return store_->Commit(std::move(txn));
  };
  ASSERT_TRUE(retract(3).ok());  // the first changes commit indexes the appended rows
  ASSERT_TRUE(Write(t, Rows(10, 13), small).ok());  // appends keep the index
  ASSERT_TRUE(retract(11).ok());
  ASSERT_TRUE(retract(0).ok());
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{1, 2, 4, 10, 12}));
  EXPECT_EQ(t->num_rows(), 5);
  // An overwrite starts the index again from its rows.
  WriteOptions ow;
  ow.overwrite = true;
  ASSERT_TRUE(Write(t, Rows(20, 22), ow).ok());
  EXPECT_EQ(retract(1).code(), StatusCode::kInternal);
  ASSERT_TRUE(retract(21).ok());
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{20}));
  EXPECT_EQ(Ids(**t->Snapshot(2)), (std::vector<std::int64_t>{0, 1, 2, 4, 10, 11, 12}));
}

std::vector<std::int64_t> SortedIds(const TableSnapshot& s) {
  std::vector<std::int64_t> ids = Ids(s);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::int64_t> Range(int from, int to) {
  std::vector<std::int64_t> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

TEST_P(DeltaTableTest, OptimizeRewritesSmallVersionsIntoLargeChunksWithTheSameRows) {
  DeltaTable* t = *store_->Table("t", true);
  AppendVersions(store_.get(), t, 0, 300);
  OptimizeOptions opt;
  opt.rows_per_chunk = 128;
  auto r = t->Optimize(opt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted) << r->detail;
  EXPECT_EQ(r->commit.version, 300);
  EXPECT_EQ(r->commit.operation, "OPTIMIZE");
  EXPECT_FALSE(r->commit.data_change);
  EXPECT_EQ(r->commit.chunks, 3);  // 128 + 128 + 44 rows
  EXPECT_EQ(r->commit.chunks_removed, 300);
  EXPECT_EQ(r->commit.rows_added, 300);
  EXPECT_EQ(r->commit.rows_removed, 300);
  // The same rows, in the same order; the version before reads as it did.
  EXPECT_EQ(Ids(**t->Snapshot()), Range(0, 300));
  EXPECT_EQ(Ids(**t->Snapshot(299)), Range(0, 300));
  EXPECT_EQ(Ids(**t->Snapshot(150)), Range(0, 151));
  TableInfo info = t->info();
  EXPECT_EQ(info.live_chunks, 3);
  EXPECT_EQ(info.rows, 300);
  EXPECT_EQ(info.live_ranges, 1);
  // What the log says survives a reopen; the history shows it.
  store_.reset();
  store_ = std::move(Store::Open(Options())).value();
  t = *store_->Table("t", false);
  EXPECT_EQ(t->info().live_chunks, 3);
  auto hist = *t->History(1);
  EXPECT_EQ(hist[0].operation, "OPTIMIZE");
  EXPECT_EQ(hist[0].removed, (std::vector<VersionRange>{{0, 299}}));
  // Nothing left to do: big chunks are left alone (a single small tail chunk too).
  EXPECT_EQ(t->Optimize(opt)->outcome, MaintenanceOutcome::kNothingToDo);
  // Appends after it form a new run, compacted with the small tail chunk of the last OPTIMIZE?
  // No: that version holds full chunks; the run starts after it.
  AppendVersions(store_.get(), t, 300, 10);
  auto again = t->Optimize(opt);
  ASSERT_EQ(again->outcome, MaintenanceOutcome::kCommitted);
  EXPECT_EQ(again->commit.removed, (std::vector<VersionRange>{{301, 310}}));
  EXPECT_EQ(SortedIds(**t->Snapshot()), Range(0, 310));
  EXPECT_EQ(t->info().live_ranges, 2);
}

// The background policy's OPTIMIZE is size-tiered: with one-row versions and an OPTIMIZE after
// every 16 of them, the partly filled chunk the previous OPTIMIZE wrote is not rewritten each
// time (that is quadratic: every row rewritten once per later OPTIMIZE), only once as many bytes
// have arrived after it — about log2(rows / 16) rewrites per row. On demand (not tiered) every
// small chunk of the run is rewritten, the old behaviour, shown beside it.
TEST_P(DeltaTableTest, TieredOptimizeRewritesEachRowALogarithmicNumberOfTimes) {
  // Ingested chunks (one SST file per small write) change nothing here and take a minute.
  if (GetParam()) GTEST_SKIP() << "the choice of runs does not depend on how chunks are stored";
  constexpr int kRounds = 200, kPerRound = 16;
  auto rewritten = [&](const std::string& name, bool tiered, std::int64_t* live_chunks) {
    DeltaTable* t = *store_->Table(name, true);
    OptimizeOptions opt;
    opt.rows_per_chunk = 8192;
    opt.min_small_chunks = kPerRound;
    opt.tiered = tiered;
    std::int64_t rows = 0;
    for (int round = 0; round < kRounds; ++round) {
      AppendVersions(store_.get(), t, round * kPerRound, kPerRound);
      auto r = t->Optimize(opt);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok() && r->outcome == MaintenanceOutcome::kCommitted) rows += r->commit.rows_added;
    }
    EXPECT_EQ(SortedIds(**t->Snapshot()), Range(0, kRounds * kPerRound)) << name;
    *live_chunks = t->info().live_chunks;
    return rows;
  };
  std::int64_t tiered_chunks = 0, flat_chunks = 0;
  const std::int64_t tiered = rewritten("tiered", true, &tiered_chunks);
  const std::int64_t flat = rewritten("flat", false, &flat_chunks);
  const std::int64_t total = kRounds * kPerRound;
  std::printf("rows rewritten for %lld rows: tiered %lld (%lld chunks left), untiered %lld\n",
              static_cast<long long>(total), static_cast<long long>(tiered),
              static_cast<long long>(tiered_chunks), static_cast<long long>(flat));
  EXPECT_LE(tiered, 10 * total) << "rows rewritten by the tiered OPTIMIZEs";
  EXPECT_GE(flat, 50 * total) << "rows rewritten by the untiered OPTIMIZEs";
  // What stays unmerged is bounded: at most one chunk per tier, plus the last round's.
  EXPECT_LE(tiered_chunks, 2 * 8 + kPerRound);
  EXPECT_EQ(flat_chunks, 1);
}

TEST_P(DeltaTableTest, OptimizeKeepsEveryRowAppendedWhileItRunsExactlyOnce) {
  DeltaTable* t = *store_->Table("t", true);
  AppendVersions(store_.get(), t, 0, 100);
  OptimizeOptions opt;
  opt.rows_per_chunk = 64;
  // Versions 100..149 commit between OPTIMIZE's snapshot and its commit.
  opt.before_commit = [&] { AppendVersions(store_.get(), t, 100, 50); };
  auto r = t->Optimize(opt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted);
  EXPECT_EQ(r->commit.version, 150);
  EXPECT_EQ(r->commit.removed, (std::vector<VersionRange>{{0, 99}}));
  EXPECT_EQ(SortedIds(**t->Snapshot()), Range(0, 150));
  EXPECT_EQ(t->num_rows(), 150);
  EXPECT_EQ(SortedIds(**t->Snapshot(149)), Range(0, 150));
  // A writer thread appending while OPTIMIZE runs in a loop: still every row once.
  std::thread writer([&] { AppendVersions(store_.get(), t, 150, 400); });
  OptimizeOptions loop;
  loop.rows_per_chunk = 64;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(t->Optimize(loop).ok());
  writer.join();
  ASSERT_TRUE(t->Optimize(loop).ok());
  EXPECT_EQ(SortedIds(**t->Snapshot()), Range(0, 550));
  EXPECT_EQ(t->num_rows(), 550);
  store_.reset();
  store_ = std::move(Store::Open(Options())).value();
  EXPECT_EQ(SortedIds(**(*store_->Table("t", false))->Snapshot()), Range(0, 550));
}

TEST_P(DeltaTableTest, OptimizeGivesUpWhenAnOverwriteRemovedWhatItRead) {
  DeltaTable* t = *store_->Table("t", true);
  AppendVersions(store_.get(), t, 0, 20);
  OptimizeOptions opt;
  opt.before_commit = [&] {
    WriteOptions ow;
    ow.overwrite = true;
    ASSERT_TRUE(Write(t, Rows(100, 102), ow).ok());
  };
  auto r = t->Optimize(opt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, MaintenanceOutcome::kConflict);
  EXPECT_NE(r->detail.find("left the live set"), std::string::npos) << r->detail;
  EXPECT_EQ(t->latest_version(), 20);
  EXPECT_EQ(Ids(**t->Snapshot()), (std::vector<std::int64_t>{100, 101}));
}

TEST_P(DeltaTableTest, OptimizeMovesTheKeyIndexAndKeepsDeletionsMadeWhileItRuns) {
  DeltaTable* t = *store_->Table("agg", true);
  auto changes = [&](std::vector<int> ids, std::vector<std::int64_t> weights) {
    RecordBatch b;
    for (int id : ids) {
      if (b.num_rows() == 0)
        b = Rows(id, id + 1);
      else
        EXPECT_TRUE(b.Append(Rows(id, id + 1)).ok());
    }
    if (!weights.empty()) b.SetWeights(std::move(weights));
    auto txn = store_->BeginTxn();
    Status st = t->StageChanges(*txn, std::span<const RecordBatch>(&b, 1), {"id"}, {});
    if (!st.ok()) return st;
    return store_->Commit(std::move(txn));
  };
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(changes({i}, {}).ok());
  ASSERT_TRUE(changes({5, 6}, {-1, -1}).ok());  // deleted before OPTIMIZE reads
  OptimizeOptions opt;
  opt.rows_per_chunk = 16;
  // While it runs: key 7 is retracted and key 40 inserted.
  opt.before_commit = [&] { ASSERT_TRUE(changes({7, 40}, {-1, +1}).ok()); };
  auto r = t->Optimize(opt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->outcome, MaintenanceOutcome::kCommitted) << r->detail;
  EXPECT_EQ(r->commit.rows_added, 38);
  EXPECT_EQ(r->commit.dv_updates.size(), 1u);  // key 7's row, in the new chunks
  std::vector<std::int64_t> want = Range(0, 41);
  std::erase_if(want, [](std::int64_t id) { return id == 5 || id == 6 || id == 7; });
  EXPECT_EQ(SortedIds(**t->Snapshot()), want);
  EXPECT_EQ(t->num_rows(), 38);
  // The index points into the new chunks: rows move out of them by key.
  ASSERT_TRUE(changes({0, 39, 40}, {-1, -1, -1}).ok());
  EXPECT_EQ(changes({7}, {-1}).code(), StatusCode::kInternal);
  EXPECT_EQ(t->num_rows(), 35);
  ASSERT_TRUE(changes({7}, {+1}).ok());
  ASSERT_TRUE(changes({7}, {-1}).ok());
  // Compacting again folds the deletion vectors away.
  opt.before_commit = nullptr;
  ASSERT_EQ(t->Optimize(opt)->outcome, MaintenanceOutcome::kCommitted);
  EXPECT_EQ(t->info().deletion_vectors, 0);
  std::erase_if(want, [](std::int64_t id) { return id == 0 || id == 39 || id == 40; });
  EXPECT_EQ(SortedIds(**t->Snapshot()), want);
  ASSERT_TRUE(changes({1}, {-1}).ok());
}

// Tables with long histories: opening, snapshots and time travel read a bounded number of log
// entries (counted, not timed).
class DeltaTableHistoryTest : public ::testing::Test {
 protected:
  StoreOptions Options() const {
    StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    return o;
  }
  TempDir dir_;
};

TEST_F(DeltaTableHistoryTest, LogCheckpointsBoundWhatOpeningAndTimeTravelRead) {
  constexpr int kVersions = 100'500;
  const std::int64_t interval = StoreOptions().table_checkpoint_interval;
  {
    auto store = std::move(Store::Open(Options())).value();
    DeltaTable* t = *store->Table("t", true);
    AppendVersions(store.get(), t, 0, kVersions);
    ASSERT_EQ(t->latest_version(), kVersions - 1);
    EXPECT_EQ(t->log_entries_read(), 0);  // the writer follows its own commits
  }
  auto store = std::move(Store::Open(Options())).value();
  DeltaTable* t = *store->Table("t", false);
  EXPECT_EQ(t->num_rows(), kVersions);
  EXPECT_EQ(t->info().live_ranges, 1);
  EXPECT_LT(t->log_entries_read(), interval);
  EXPECT_EQ(t->checkpoints_read(), 1);
  // Time travel to any version: one checkpoint and fewer than `interval` entries.
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{99}, std::int64_t{12'345}, std::int64_t{kVersions - 2}}) {
    std::int64_t before = t->log_entries_read();
    auto snap = t->Snapshot(v);
    ASSERT_TRUE(snap.ok());
    EXPECT_EQ((*snap)->num_rows(), v + 1);
    EXPECT_LT(t->log_entries_read() - before, interval) << v;
  }
  EXPECT_EQ(Ids(**t->Snapshot(50'000)).back(), 50'000);
  // TIMESTAMP AS OF: a binary search, ~log2(versions) entries.
  std::int64_t before = t->log_entries_read();
  auto c = t->Commit(70'000);
  ASSERT_TRUE(c.ok());
  auto v = t->VersionAsOf(c->timestamp_ms * 1000);
  ASSERT_TRUE(v.ok());
  EXPECT_GE(*v, 70'000);
  EXPECT_LE(t->log_entries_read() - before, 20);
  EXPECT_EQ(t->VersionAsOf(0).status().code(), StatusCode::kOutOfRange);
  // The read-only instance (the CLI) takes the same path.
  auto reader = std::move(Store::OpenReader(dir_.path() + "/data")).value();
  DeltaTable* rt = *reader->Table("t", false);
  EXPECT_EQ(rt->num_rows(), kVersions);
  EXPECT_LT(rt->log_entries_read(), interval);
}

TEST_F(DeltaTableHistoryTest, ADataDirWrittenBeforeCheckpointsIsReadAndUpgradedOnce) {
  // Make the layout of a data dir written before log checkpoints: no checkpoints, no statistics
  // keys, the txns in 'X' keys, and chunks no committed version declares (one past a version's
  // declared count, one of a version never committed).
  std::uint32_t id = 0;
  {
    auto store = std::move(Store::Open(Options())).value();
    DeltaTable* t = *store->Table("old", true);
    id = t->id();
    WriteOptions opt;
    opt.app_id = "q";
    for (int i = 0; i < 250; ++i) {
      opt.batch_id = i;
      auto txn = store->BeginTxn();
      ASSERT_TRUE(t->StageWrite(*txn, Rows(i, i + 1), opt).ok());
      ASSERT_TRUE(store->Commit(std::move(txn), false).ok());
    }
    auto txn = store->BeginTxn();
    for (char kind : {'K', 'T'}) {
      std::string from = TableKey(id, kind), to = TableKey(id, static_cast<char>(kind + 1));
      txn->DeleteRange(KeySpace::kTables, from, to);
    }
    txn->Put(KeySpace::kTables, TableKey(id, 'X') + "q",
             R"({"epoch":0,"batch":249,"version":249})");
    txn->Put(KeySpace::kTables, ChunkKey(id, ChunkId{7, 1}), EncodeChunk(Rows(900, 901), 0, 1));
    txn->Put(KeySpace::kTables, ChunkKey(id, ChunkId{250, 0}), EncodeChunk(Rows(901, 902), 0, 1));
    ASSERT_TRUE(store->Commit(std::move(txn)).ok());
  }
  {
    // A reader cannot upgrade: it reads the whole log, and hides the undeclared chunk only after
    // the upgrade, so it is checked below.
    auto reader = std::move(Store::OpenReader(dir_.path() + "/data")).value();
    DeltaTable* rt = *reader->Table("old", false);
    EXPECT_EQ(rt->latest_version(), 249);
    EXPECT_EQ(rt->log_entries_read(), 250);
    EXPECT_EQ(rt->LastTxn("q")->second, 249);
  }
  {
    auto store = std::move(Store::Open(Options())).value();
    DeltaTable* t = *store->Table("old", false);  // the daemon upgrades
    EXPECT_EQ(t->num_rows(), 250);
    EXPECT_EQ(Ids(**t->Snapshot()).size(), 250u);  // the undeclared chunk is gone
    EXPECT_EQ(Ids(**t->Snapshot(7)), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
    std::string stats;
    EXPECT_TRUE(store->Get(KeySpace::kTables, TableVersionKey(id, 'T', 7), &stats).ok());
    ASSERT_TRUE(Write(store.get(), t, Rows(250, 251)).ok());
  }
  auto store = std::move(Store::Open(Options())).value();
  DeltaTable* t = *store->Table("old", false);
  EXPECT_EQ(t->checkpoints_read(), 1);
  EXPECT_LE(t->log_entries_read(), 1);
  EXPECT_EQ(t->num_rows(), 251);
  EXPECT_EQ(t->LastTxn("q")->second, 249);
  WriteOptions again;
  again.app_id = "q";
  again.batch_id = 200;
  EXPECT_EQ(Write(store.get(), t, Rows(0, 1), again).code(), StatusCode::kAlreadyExists);
}

INSTANTIATE_TEST_SUITE_P(WalAndIngest, DeltaTableTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? std::string("IngestedChunks")
                                          : std::string("WalChunks");
                         });

}  // namespace
}  // namespace pinstream::state
