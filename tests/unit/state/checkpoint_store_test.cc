#include "state/checkpoint_store.h"

#include <gtest/gtest.h>

#include "engine/keyed_state.h"
#include "state/store.h"
#include "tests/testing/test_util.h"

namespace pinstream::state {
namespace {

using pinstream::testing::TempDir;

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.data_dir = dir_.path();
    o.checkpoint_retention = 3;
    store_ = std::move(Store::Open(o)).value();
    cps_ = std::make_unique<RocksCheckpointStore>(store_.get());
  }
  void CommitBatch(QueryCheckpoint& cp, std::int64_t n, const std::string& state_key = "") {
    OffsetLogEntry e;
    e.batch_id = n;
    e.sources["s"]["0"] = n * 10;
    ASSERT_TRUE(cp.WriteOffsets(e).ok());
    auto txn = cp.BeginCommit(n);
    if (!state_key.empty()) {
      KeyedStateStore st(&cp, "q/1", 0);
      st.Put(state_key, "v");
      st.StageChanges(n, *txn);
    }
    CommitLogEntry c;
    c.batch_id = n;
    ASSERT_TRUE(cp.Commit(std::move(txn), c).ok());
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RocksCheckpointStore> cps_;
};

TEST_F(CheckpointStoreTest, KeepsOnlyTheRetentionWindow) {
  auto cp = std::move(cps_->OpenQuery("q")).value();
  QueryMetadata m;
  m.id = "id";
  m.name = "q";
  ASSERT_TRUE(cp->WriteMetadata(m).ok());
  for (int n = 0; n < 6; ++n) CommitBatch(*cp, n);
  EXPECT_EQ(**cp->LatestCommittedBatch(), 5);
  EXPECT_FALSE(cp->GetOffsets(2)->has_value());
  EXPECT_TRUE(cp->GetOffsets(3)->has_value());
  EXPECT_EQ((*cp->LatestOffsets())->sources.at("s").at("0"), 50);
  EXPECT_EQ(*cps_->ListQueries(), std::vector<std::string>{"q"});
}

TEST_F(CheckpointStoreTest, RewindDropsLaterBatchesAndTheirStateAndBumpsTheEpoch) {
  auto cp = std::move(cps_->OpenQuery("q")).value();
  QueryMetadata m;
  m.id = "id";
  m.name = "q";
  ASSERT_TRUE(cp->WriteMetadata(m).ok());
  CommitBatch(*cp, 0, "a");
  CommitBatch(*cp, 1, "b");
  CommitBatch(*cp, 2, "c");
  std::string report;
  ASSERT_TRUE(cps_->Rewind("q", 1, &report).ok()) << report;
  EXPECT_EQ(**cp->LatestCommittedBatch(), 0);
  EXPECT_EQ((*cp->LatestOffsets())->batch_id, 0);
  EXPECT_EQ((*cp->ReadMetadata())->epoch, 1);
  std::vector<std::string> keys;
  KeyedStateStore st(cp.get(), "q/1", 0);
  ASSERT_TRUE(st.ScanCommitted([&](std::string_view k, std::string_view, std::int64_t b) {
                  keys.emplace_back(k);
                  EXPECT_EQ(b, 0);
                }).ok());
  EXPECT_EQ(keys, std::vector<std::string>{"a"});
  EXPECT_EQ(cps_->Rewind("q", 5, &report).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(cps_->Rewind("nope", 0, &report).code(), StatusCode::kNotFound);
}

TEST_F(CheckpointStoreTest, DamagedEntryGivesAClearErrorWithAWayOut) {
  auto cp = std::move(cps_->OpenQuery("q")).value();
  ASSERT_TRUE(
      store_->PutSync(KeySpace::kCheckpoint, CheckpointKey("q", 'O', 4), "v1\n{trunc").ok());
  auto r = cp->LatestOffsets();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("offsets/4 is damaged"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("pinstream checkpoint rewind q"), std::string::npos);
  ASSERT_TRUE(cps_->Reset("q").ok());
  EXPECT_FALSE(cp->LatestOffsets()->has_value());
}

TEST_F(CheckpointStoreTest, ResetForgetsOffsetsAndStateButNotOtherQueries) {
  auto q = std::move(cps_->OpenQuery("q")).value();
  auto other = std::move(cps_->OpenQuery("q2")).value();
  QueryMetadata m;
  m.id = "id";
  m.name = "q";
  ASSERT_TRUE(q->WriteMetadata(m).ok());
  m.name = "q2";
  ASSERT_TRUE(other->WriteMetadata(m).ok());
  CommitBatch(*q, 0, "a");
  CommitBatch(*other, 0);
  ASSERT_TRUE(cps_->Reset("q").ok());
  EXPECT_FALSE(q->LatestOffsets()->has_value());
  EXPECT_FALSE(q->ReadMetadata()->has_value());
  std::size_t keys = 0;
  KeyedStateStore st(q.get(), "q/1", 0);
  ASSERT_TRUE(
      st.ScanCommitted([&](std::string_view, std::string_view, std::int64_t) { ++keys; }).ok());
  EXPECT_EQ(keys, 0u);
  EXPECT_EQ(**other->LatestCommittedBatch(), 0);
  EXPECT_EQ(*cps_->ListQueries(), std::vector<std::string>{"q2"});
}

}  // namespace
}  // namespace pinstream::state
