// StateTable over the in-memory checkpoint: the layers a read goes through (this batch, batches
// still committing, committed state behind a bounded cache), ordered scans over them, row counts,
// and the undo logs `checkpoint rewind` applies.
#include "engine/state_table.h"

#include <gtest/gtest.h>

#include "engine/bytes.h"
#include "engine/checkpoint.h"

namespace pinstream {
namespace {

class StateTableTest : public ::testing::Test {
 protected:
  StateTableTest() { cp_ = std::move(store_.OpenQuery("q")).value(); }
  std::unique_ptr<StateTable> Open(int shard = 0, int shards = 1, std::size_t cache = 1 << 20) {
    auto t = std::make_unique<StateTable>(cp_.get(), "q/0", shard, shards, cache);
    EXPECT_TRUE(t->Open().ok());
    return t;
  }
  // Stages the table's batch and returns the transaction (committed by Commit()).
  std::unique_ptr<CommitTxn> Stage(StateTable& t, std::int64_t batch) {
    auto txn = cp_->BeginCommit(batch);
    t.StageBatch(batch, *txn);
    return txn;
  }
  void Commit(std::unique_ptr<CommitTxn> txn) {
    CommitLogEntry e;
    e.batch_id = txn->batch_id();
    ASSERT_TRUE(cp_->Commit(std::move(txn), e).ok());
  }
  static std::string Get(StateTable& t, std::string_view key) {
    std::string v;
    bool found = false;
    EXPECT_TRUE(t.Get(key, &v, &found).ok());
    return found ? v : "<absent>";
  }
  static std::string ScanAll(StateTable& t, std::string_view begin = "",
                             std::string_view end = "\xff") {
    std::string out;
    EXPECT_TRUE(t.Scan(begin, end, [&](std::string_view k, std::string_view v) {
                   out += std::string(k) + "=" + std::string(v) + " ";
                   return true;
                 }).ok());
    return out;
  }

  InMemoryCheckpointStore store_;
  std::unique_ptr<QueryCheckpoint> cp_;
};

TEST_F(StateTableTest, WritesAreReadBackInTheBatchAndByTheNextInstanceOnceCommitted) {
  auto t = Open();
  ASSERT_TRUE(t->Put("a", "1").ok());
  ASSERT_TRUE(t->Put("b", "2").ok());
  ASSERT_TRUE(t->Delete("b").ok());
  EXPECT_EQ(Get(*t, "a"), "1");
  EXPECT_EQ(Get(*t, "b"), "<absent>");
  EXPECT_EQ(t->Stats().rows, 1);
  Commit(Stage(*t, 0));
  auto again = Open();
  EXPECT_EQ(Get(*again, "a"), "1");
  EXPECT_EQ(Get(*again, "b"), "<absent>");
  EXPECT_EQ(again->Stats().rows, 1);  // the stored row count
}

TEST_F(StateTableTest, TheNextBatchSeesTheWritesOfABatchStillCommittingAndScansMergeEveryLayer) {
  auto t = Open();
  ASSERT_TRUE(t->Put("k1", "committed").ok());
  ASSERT_TRUE(t->Put("k3", "committed").ok());
  ASSERT_TRUE(t->Put("k5", "committed").ok());
  Commit(Stage(*t, 0));
  // Batch 1 is staged but not durable yet while batch 2 runs.
  ASSERT_TRUE(t->Put("k2", "b1").ok());
  ASSERT_TRUE(t->Delete("k3").ok());
  auto txn1 = Stage(*t, 1);
  EXPECT_EQ(Get(*t, "k2"), "b1");
  EXPECT_EQ(Get(*t, "k3"), "<absent>");
  ASSERT_TRUE(t->Put("k4", "b2").ok());
  ASSERT_TRUE(t->Put("k5", "b2").ok());
  EXPECT_EQ(ScanAll(*t), "k1=committed k2=b1 k4=b2 k5=b2 ");
  EXPECT_EQ(ScanAll(*t, "k2", "k5"), "k2=b1 k4=b2 ");
  // A visitor may stop early.
  int seen = 0;
  ASSERT_TRUE(
      t->Scan("", "\xff", [&](std::string_view, std::string_view) { return ++seen < 2; }).ok());
  EXPECT_EQ(seen, 2);
  Commit(std::move(txn1));
  EXPECT_EQ(Get(*t, "k3"), "<absent>");  // the overlay is gone, storage has it
  EXPECT_EQ(ScanAll(*t), "k1=committed k2=b1 k4=b2 k5=b2 ");
  Commit(Stage(*t, 2));
  EXPECT_EQ(ScanAll(*Open()), "k1=committed k2=b1 k4=b2 k5=b2 ");
  EXPECT_EQ(Open()->Stats().rows, 4);
}

TEST_F(StateTableTest, TheCacheStaysWithinItsBytesAndReadsStayRight) {
  auto t = Open(0, 1, /*cache=*/4096);
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(t->Put("key" + std::to_string(i), std::string(100, 'x')).ok());
  Commit(Stage(*t, 0));
  auto r = Open(0, 1, 4096);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 1000; i += 7) EXPECT_EQ(Get(*r, "key" + std::to_string(i)).size(), 100u);
  }
  EXPECT_LE(r->Stats().memory_bytes, 4096);
  EXPECT_GT(r->Stats().cache_misses, 0);
  // A small key set fits: the second round hits.
  auto small = Open(0, 1, 1 << 20);
  for (int round = 0; round < 2; ++round) Get(*small, "key1");
  EXPECT_EQ(small->Stats().cache_hits, 1);
}

TEST_F(StateTableTest, APrefetchReadsCommittedKeysAtOnceAndNeverHidesNewerWrites) {
  {
    auto w = Open();
    for (std::string k : {"a", "b", "c", "d"}) ASSERT_TRUE(w->Put(k, k + "0").ok());
    Commit(Stage(*w, 0));
  }
  auto t = Open();                      // a cold cache
  ASSERT_TRUE(t->Put("b", "b1").ok());  // batch 1, still committing while batch 2 prefetches
  auto txn1 = Stage(*t, 1);
  ASSERT_TRUE(t->Put("c", "c2").ok());                  // batch 2's own write
  const std::int64_t misses = t->Stats().cache_misses;  // the Puts read the old values
  ASSERT_TRUE(t->Prefetch({"d", "a", "b", "c", "zz", "a"}).ok());
  EXPECT_EQ(t->Stats().cache_misses, misses + 3);  // a, d, zz from storage; b, c are above it
  const std::int64_t hits = t->Stats().cache_hits;
  EXPECT_EQ(Get(*t, "a"), "a0");
  EXPECT_EQ(Get(*t, "b"), "b1");
  EXPECT_EQ(Get(*t, "c"), "c2");
  EXPECT_EQ(Get(*t, "d"), "d0");
  EXPECT_EQ(Get(*t, "zz"), "<absent>");
  EXPECT_EQ(t->Stats().cache_hits, hits + 3);  // served from memory
  EXPECT_EQ(t->Stats().cache_misses, misses + 3);
  Commit(std::move(txn1));
  Commit(Stage(*t, 2));
  EXPECT_EQ(ScanAll(*Open()), "a=a0 b=b1 c=c2 d=d0 ");
  // A cache too small for the keys: a prefetch stops at half of it; reads stay right.
  auto small = Open(0, 1, /*cache=*/300);
  ASSERT_TRUE(small->Prefetch({"a", "b", "c", "d"}).ok());
  EXPECT_LT(small->Stats().cache_misses, 4);
  EXPECT_EQ(Get(*small, "d"), "d0");
}

TEST_F(StateTableTest, ADiscardedBatchLeavesNothingAndRowCountsRestart) {
  auto t = Open();
  ASSERT_TRUE(t->Put("a", "1").ok());
  t->DiscardBatch();
  EXPECT_EQ(Get(*t, "a"), "<absent>");
  EXPECT_EQ(t->Stats().rows, 0);
  Commit(Stage(*t, 0));
  EXPECT_TRUE(store_.Dump(CommitSpace::kOperatorState).empty());
}

TEST_F(StateTableTest, ShardsOwnDisjointPartitionsAndCountTheirRowsUnderANewShardCount) {
  auto s0 = Open(0, 2), s1 = Open(1, 2);
  ASSERT_EQ(s0->partitions().size() + s1->partitions().size(), 256u);
  EXPECT_EQ(s0->partitions().front(), 0);
  EXPECT_EQ(s1->partitions().front(), 1);
  // Keys start with their partition byte.
  ASSERT_TRUE(s0->Put(std::string("\x00", 1) + "x", "1").ok());
  ASSERT_TRUE(s0->Put(std::string("\x02", 1) + "y", "1").ok());
  ASSERT_TRUE(s1->Put(std::string("\x03", 1) + "z", "1").ok());
  auto txn = cp_->BeginCommit(0);
  s0->StageBatch(0, *txn);
  s1->StageBatch(0, *txn);
  Commit(std::move(txn));
  // Three shards now: partition 0 and 3 → shard 0, partition 2 → shard 2.
  EXPECT_EQ(Open(0, 3)->Stats().rows, 2);
  EXPECT_EQ(Open(1, 3)->Stats().rows, 0);
  EXPECT_EQ(Open(2, 3)->Stats().rows, 1);
  // Three shards write (shard 1 only deletes), then two shards again: the counts stored by the
  // two-shard run are stale and are not trusted.
  auto t0 = Open(0, 3), t1 = Open(1, 3), t2 = Open(2, 3);
  ASSERT_TRUE(t2->Delete(std::string("\x02", 1) + "y").ok());
  txn = cp_->BeginCommit(1);
  for (auto* t : {t0.get(), t1.get(), t2.get()}) t->StageBatch(1, *txn);
  Commit(std::move(txn));
  EXPECT_EQ(Open(0, 2)->Stats().rows, 1);  // stored: 2
  EXPECT_EQ(Open(1, 2)->Stats().rows, 1);
  // A two-shard run that writes nothing still stores its counts in its first batch.
  auto u0 = Open(0, 2), u1 = Open(1, 2);
  txn = cp_->BeginCommit(2);
  u0->StageBatch(2, *txn);
  u1->StageBatch(2, *txn);
  Commit(std::move(txn));
  std::string n;
  bool found = false;
  ASSERT_TRUE(cp_->GetState(StateTable::ShardsKey("q/0"), &n, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(GetBigEndian32(n.data()), 2u);
  EXPECT_EQ(Open(0, 2)->Stats().rows, 1);
}

// Index keys (kind 'I' here: the byte after the partition byte) are keys like any other but not
// state rows: Stats() counts the entries only, in the batch, after a restart (the counts are
// stored), from a count stored before index counts existed (the index keys are counted then) and
// under a new shard count.
TEST_F(StateTableTest, IndexKeysAreKeptButNotCountedAsRows) {
  auto key = [](char p, char kind, std::string_view rest) {
    return std::string(1, p) + kind + std::string(rest);
  };
  auto open = [&](int shard = 0, int shards = 1) {
    auto t = std::make_unique<StateTable>(cp_.get(), "q/0", shard, shards, 1 << 20, "I");
    EXPECT_TRUE(t->Open().ok());
    return t;
  };
  auto t = open();
  ASSERT_TRUE(t->Put(key(0, 'W', "a"), "1").ok());
  ASSERT_TRUE(t->Put(key(0, 'I', "a"), "").ok());
  ASSERT_TRUE(t->Put(key(3, 'W', "b"), "1").ok());
  ASSERT_TRUE(t->Put(key(3, 'I', "b"), "").ok());
  EXPECT_EQ(t->Stats().rows, 2);
  EXPECT_EQ(t->Stats().rows_updated, 2);
  Commit(Stage(*t, 0));
  EXPECT_EQ(open()->Stats().rows, 2);
  ASSERT_TRUE(t->Delete(key(0, 'W', "a")).ok());
  ASSERT_TRUE(t->Delete(key(0, 'I', "a")).ok());
  EXPECT_EQ(t->Stats().rows, 1);
  EXPECT_EQ(t->Stats().rows_removed, 1);
  Commit(Stage(*t, 1));
  EXPECT_EQ(open()->Stats().rows, 1);
  EXPECT_EQ(ScanAll(*open()), std::string("\x03Ib= \x03Wb=1 ", 11));
  // `checkpoint show` lists keys: the index keys too.
  auto stored = StateTable::StoredRows(cp_.get(), "q/0");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->value_or(-1), 2);
  // A count stored before index counts (one varint: every key): the index keys are counted.
  auto txn = cp_->BeginCommit(-1);
  std::string old;
  PutVarint64(&old, 2);
  txn->Put(CommitSpace::kOperatorState, StateTable::MetaKey("q/0", 1, 0), old);
  ASSERT_TRUE(cp_->Apply(std::move(txn)).ok());
  EXPECT_EQ(open()->Stats().rows, 1);
  // Another shard count counts every key of its partitions.
  EXPECT_EQ(open(0, 2)->Stats().rows, 0);
  EXPECT_EQ(open(1, 2)->Stats().rows, 1);
}

TEST_F(StateTableTest, UndoLogsPutTheStateBackAsItWasBeforeTheBatchRewoundTo) {
  auto t = Open();
  ASSERT_TRUE(t->Put("a", "a0").ok());
  ASSERT_TRUE(t->Put("b", "b0").ok());
  Commit(Stage(*t, 0));
  ASSERT_TRUE(t->Put("a", "a1").ok());
  ASSERT_TRUE(t->Delete("b").ok());
  ASSERT_TRUE(t->Put("c", "c1").ok());
  Commit(Stage(*t, 1));
  ASSERT_TRUE(t->Put("a", "a2").ok());
  ASSERT_TRUE(t->Put("b", "b2").ok());
  Commit(Stage(*t, 2));
  EXPECT_EQ(ScanAll(*Open()), "a=a2 b=b2 c=c1 ");

  auto txn = cp_->BeginCommit(-1);
  std::int64_t restored = 0;
  ASSERT_TRUE(StateTable::Rewind(cp_.get(), "q/0", 1, *txn, &restored).ok());
  ASSERT_TRUE(cp_->Apply(std::move(txn)).ok());
  EXPECT_GT(restored, 0);
  auto back = Open();
  EXPECT_EQ(ScanAll(*back), "a=a0 b=b0 ");
  EXPECT_EQ(back->Stats().rows, 2);  // the row count is undone too
  // The undo logs of the rewound batches are gone; batch 0's stays.
  auto undo = store_.Dump(CommitSpace::kOperatorState);
  std::size_t logs = 0;
  for (const auto& [k, v] : undo) logs += k.rfind(StateTable::UndoPrefix("q/0"), 0) == 0;
  EXPECT_EQ(logs, 1u);
}

}  // namespace
}  // namespace pinstream
