#include "engine/keyed_state.h"

#include <gtest/gtest.h>

#include <map>

#include "engine/checkpoint.h"

namespace pinstream {
namespace {

class KeyedStateTest : public ::testing::Test {
 protected:
  KeyedStateTest() { cp_ = std::move(store_.OpenQuery("q")).value(); }
  void Commit(std::int64_t batch, const std::vector<std::pair<std::string, std::string>>& puts,
              const std::vector<std::string>& deletes = {}, std::uint32_t part = 0) {
    KeyedStateStore s(cp_.get(), "q/0", part);
    for (const auto& [k, v] : puts) s.Put(k, v);
    for (const auto& k : deletes) s.Delete(k);
    auto txn = cp_->BeginCommit(batch);
    s.StageChanges(batch, *txn);
    CommitLogEntry e;
    e.batch_id = batch;
    ASSERT_TRUE(cp_->Commit(std::move(txn), e).ok());
  }
  std::map<std::string, std::pair<std::string, std::int64_t>> Load() {
    std::map<std::string, std::pair<std::string, std::int64_t>> out;
    KeyedStateStore s(cp_.get(), "q/0", 0);
    EXPECT_TRUE(s.ScanCommitted([&](std::string_view k, std::string_view v, std::int64_t b) {
                   out[std::string(k)] = {std::string(v), b};
                 }).ok());
    return out;
  }
  std::size_t StoredKeys() { return store_.Dump(CommitSpace::kOperatorState).size(); }

  InMemoryCheckpointStore store_;
  std::unique_ptr<QueryCheckpoint> cp_;
};

TEST_F(KeyedStateTest, OneDeltaPerBatchAndShardReplaysPutsAndDeletesInOrder) {
  Commit(0, {{"a", "1"}, {"b", "1"}});
  Commit(0, {{"c", "1"}}, {}, 1);  // another shard, same batch
  Commit(1, {{"a", "2"}}, {"b"});
  EXPECT_EQ(StoredKeys(), 3u);  // three deltas, not one key per state key
  auto s = Load();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s["a"], std::make_pair(std::string("2"), std::int64_t{1}));
  EXPECT_EQ(s["c"], std::make_pair(std::string("1"), std::int64_t{0}));
}

// The store buffers changes in one arena; what it stages must be byte for byte the delta
// EncodeStateEntries writes for the same changes, and a staged or discarded batch must leave
// nothing behind for the next one.
TEST_F(KeyedStateTest, StagedDeltaIsTheEncodingOfTheBufferedChangesAndTheBufferStartsAfresh) {
  KeyedStateStore s(cp_.get(), "q/0", 0);
  s.Put("gone", "x");
  s.Delete("gone too");
  s.DiscardChanges();
  EXPECT_EQ(s.pending_changes(), 0u);
  EXPECT_EQ(s.pending_deletes(), 0u);
  const std::string binary("k\0\xff", 3);
  s.Put("a", "1");
  s.Delete("b");
  s.Put("", "");
  s.Put(binary, std::string(300, 'v'));
  s.Delete("");
  EXPECT_EQ(s.pending_changes(), 5u);
  EXPECT_EQ(s.pending_deletes(), 2u);  // progress: numRowsRemoved
  auto txn = cp_->BeginCommit(7);
  s.StageChanges(7, *txn);
  EXPECT_EQ(s.pending_changes(), 0u);
  EXPECT_EQ(s.pending_deletes(), 0u);
  CommitLogEntry e;
  e.batch_id = 7;
  ASSERT_TRUE(cp_->Commit(std::move(txn), e).ok());
  std::vector<StateEntry> expect = {{"a", "1", 7, false},
                                    {"b", "", 0, true},
                                    {"", "", 7, false},
                                    {binary, std::string(300, 'v'), 7, false},
                                    {"", "", 0, true}};
  auto dump = store_.Dump(CommitSpace::kOperatorState);
  ASSERT_EQ(dump.size(), 1u);
  EXPECT_EQ(dump.begin()->second, EncodeStateEntries(expect));
  // The next batch stages only its own change.
  s.Put("c", "2");
  auto txn2 = cp_->BeginCommit(8);
  s.StageChanges(8, *txn2);
  e.batch_id = 8;
  ASSERT_TRUE(cp_->Commit(std::move(txn2), e).ok());
  auto loaded = Load();
  EXPECT_EQ(loaded.size(), 3u);  // a, binary, c ("" was put, then deleted)
  EXPECT_EQ(loaded["c"], std::make_pair(std::string("2"), std::int64_t{8}));
  EXPECT_EQ(loaded[binary], std::make_pair(std::string(300, 'v'), std::int64_t{7}));
}

TEST_F(KeyedStateTest, CompactionReplacesDeltasWithASnapshotOfTheSameState) {
  for (int b = 0; b < 10; ++b)
    Commit(b, {{"k" + std::to_string(b), "v"}},
           b > 0 ? std::vector<std::string>{"k0"} : std::vector<std::string>{});
  auto before = Load();
  auto txn = cp_->BeginCommit(-1);
  bool compacted = false;
  ASSERT_TRUE(CompactState(cp_.get(), "q/0", 4, *txn, &compacted).ok());
  ASSERT_TRUE(compacted);
  ASSERT_TRUE(cp_->Apply(std::move(txn)).ok());
  EXPECT_EQ(Load(), before);
  EXPECT_EQ(StoredKeys(), 1u);  // one snapshot chunk
  Commit(10, {{"late", "x"}});
  auto after = Load();
  EXPECT_EQ(after.size(), before.size() + 1);
  EXPECT_EQ(after["late"].second, 10);
}

TEST_F(KeyedStateTest, RewindDropsWhatLaterBatchesWroteEvenFromASnapshot) {
  Commit(0, {{"a", "1"}});
  Commit(1, {{"b", "1"}});
  Commit(2, {{"c", "1"}});
  auto txn = cp_->BeginCommit(-1);
  bool compacted;
  ASSERT_TRUE(CompactState(cp_.get(), "q/0", 0, *txn, &compacted).ok());
  ASSERT_TRUE(cp_->Apply(std::move(txn)).ok());
  Commit(3, {{"d", "1"}});
  std::int64_t dropped = 0, kept = 0;
  txn = cp_->BeginCommit(-1);
  ASSERT_TRUE(RewindState(cp_.get(), "q/0", 2, *txn, &dropped, &kept).ok());
  ASSERT_TRUE(cp_->Apply(std::move(txn)).ok());
  EXPECT_EQ(dropped, 2);
  EXPECT_EQ(kept, 2);
  auto s = Load();
  EXPECT_EQ(s.size(), 2u);
  EXPECT_TRUE(s.count("a") && s.count("b"));
}

TEST_F(KeyedStateTest, DamagedDeltaIsACorruptionError) {
  auto txn = cp_->BeginCommit(0);
  txn->Put(CommitSpace::kOperatorState, StateDeltaKey("q/0", 0, 0), "\x05garbage");
  CommitLogEntry e;
  ASSERT_TRUE(cp_->Commit(std::move(txn), e).ok());
  KeyedStateStore s(cp_.get(), "q/0", 0);
  Status st = s.ScanCommitted([](std::string_view, std::string_view, std::int64_t) {});
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace pinstream
