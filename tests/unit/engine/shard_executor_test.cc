// ShardExecutor with fake operators: output order, the keyed exchange, rejections, failures and
// keyed state.
#include "engine/shard_executor.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "engine/checkpoint.h"
#include "tests/testing/fake_operators.h"
#include "tests/testing/test_util.h"

namespace pinstream {
namespace {

using testing::ColumnStrings;
using testing::FailOnValueSpec;
using testing::KeepFirstSpec;
using testing::RejectValuesSpec;
using testing::StringBatch;

// Chunk `index` of a batch: rows (key, value), with the RowIds a query gives them.
RecordBatch Chunk(std::uint32_t index,
                  const std::vector<std::pair<std::string, std::string>>& rows) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& [k, v] : rows) cells.push_back({k, v});
  RecordBatch b = StringBatch({"key", "value"}, cells);
  for (std::size_t r = 0; r < b.num_rows(); ++r)
    b.row_ids()[r] = MakeRowId(index, static_cast<std::uint32_t>(r));
  return b;
}

std::vector<std::string> Values(const BatchOutput& out) {
  std::vector<std::string> v;
  for (const auto& b : out.batches) {
    for (auto& s : ColumnStrings(b, "value")) v.push_back(s);
  }
  return v;
}

class ShardExecutorTest : public ::testing::Test {
 protected:
  std::unique_ptr<ShardExecutor> Make(int shards,
                                      std::vector<std::shared_ptr<const OperatorSpec>> specs) {
    specs_ = std::move(specs);
    std::vector<ShardExecutor::OperatorSlot> slots;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      slots.push_back({std::to_string(i) + ":" + std::string(specs_[i]->kind()), specs_[i].get()});
    }
    checkpoint_ = std::move(store_.OpenQuery("q")).value();
    auto ex = ShardExecutor::Create("q", shards, 8, std::move(slots), checkpoint_.get());
    EXPECT_TRUE(ex.ok()) << ex.status().ToString();
    return std::move(ex).value();
  }
  // Runs one batch of `chunks` (chunk i holds keys "k<key>", values "v<i>.<r>").
  Result<BatchOutput> Run(ShardExecutor& ex, std::int64_t batch,
                          const std::vector<std::vector<int>>& chunks) {
    ex.BeginBatch(batch, 1000);
    for (std::uint32_t i = 0; i < chunks.size(); ++i) {
      std::vector<std::pair<std::string, std::string>> rows;
      for (std::size_t r = 0; r < chunks[i].size(); ++r) {
        rows.emplace_back("k" + std::to_string(chunks[i][r]),
                          "v" + std::to_string(i) + "." + std::to_string(r));
      }
      ex.SubmitChunk(Chunk(i, rows), i);
    }
    return ex.Finish();
  }
  void Commit(ShardExecutor& ex, std::int64_t batch) {
    auto txn = checkpoint_->BeginCommit(batch);
    ex.StageStateChanges(batch, *txn);
    CommitLogEntry e;
    e.batch_id = batch;
    ASSERT_TRUE(checkpoint_->Commit(std::move(txn), e).ok());
  }

  InMemoryCheckpointStore store_;
  std::unique_ptr<QueryCheckpoint> checkpoint_;
  std::vector<std::shared_ptr<const OperatorSpec>> specs_;
};

TEST_F(ShardExecutorTest, WithoutKeyedOperatorsTheOutputIsInSourceOrderWhateverTheShards) {
  for (int shards : {1, 2, 3}) {
    auto ex = Make(shards, {std::make_shared<RejectValuesSpec>("value", std::set<std::string>{})});
    auto out = Run(*ex, 0, {{1, 2}, {3}, {4, 5, 6}, {7}, {8, 9}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(Values(*out), (std::vector<std::string>{"v0.0", "v0.1", "v1.0", "v2.0", "v2.1",
                                                      "v2.2", "v3.0", "v4.0", "v4.1"}))
        << shards << " shards";
    EXPECT_EQ(ex->num_shards(), shards);
  }
}

TEST_F(ShardExecutorTest, EveryRowOfAKeyMeetsOneInstanceSoTheFirstOfEachKeyWinsWhateverTheShards) {
  std::vector<std::vector<std::string>> kept;
  const std::vector<std::vector<int>> chunks = {{1, 2, 1}, {3, 2, 4}, {1, 5}, {4, 6, 3}};
  for (int shards : {1, 2, 4}) {
    auto ex = Make(shards, {std::make_shared<KeepFirstSpec>("key")});
    auto out = Run(*ex, 0, chunks);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    std::vector<std::string> v = Values(*out);
    std::sort(v.begin(), v.end());
    kept.push_back(v);
  }
  // k1 v0.0, k2 v0.1, k3 v1.0, k4 v1.2, k5 v2.1, k6 v3.1: the first arrival of each key.
  EXPECT_EQ(kept[0], (std::vector<std::string>{"v0.0", "v0.1", "v1.0", "v1.2", "v2.1", "v3.1"}));
  EXPECT_EQ(kept[1], kept[0]);
  EXPECT_EQ(kept[2], kept[0]);
}

TEST_F(ShardExecutorTest, RejectedRowsLeaveTheOutputAndAreReportedWithOperatorAndRowId) {
  auto ex =
      Make(2, {std::make_shared<RejectValuesSpec>("value", std::set<std::string>{"v1.0", "v2.1"})});
  auto out = Run(*ex, 0, {{1}, {2}, {3, 4}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Values(*out), (std::vector<std::string>{"v0.0", "v2.0"}));
  ASSERT_EQ(out->rejected.size(), 2u);
  std::vector<RowId> ids{out->rejected[0].row_id, out->rejected[1].row_id};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<RowId>{MakeRowId(1, 0), MakeRowId(2, 1)}));
  EXPECT_EQ(out->rejected[0].operator_name, "0:reject_values");
  EXPECT_EQ(out->rejected[0].reason.rfind("rejected v", 0), 0u) << out->rejected[0].reason;
}

TEST_F(ShardExecutorTest, AnOperatorErrorFailsTheBatchAndTheNextBatchRunsAgain) {
  auto ex = Make(2, {std::make_shared<FailOnValueSpec>("value", "v1.0")});
  auto failed = Run(*ex, 0, {{1}, {2}});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("found 'v1.0'"), std::string::npos)
      << failed.status().message();
  auto next = Run(*ex, 1, {{1}});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(Values(*next), std::vector<std::string>{"v0.0"});
}

TEST_F(ShardExecutorTest, KeyedStateIsStagedIntoTheCommitAndLoadedByTheNextInstances) {
  {
    auto ex = Make(2, {std::make_shared<KeepFirstSpec>("key")});
    auto out = Run(*ex, 0, {{1, 2}, {2, 3}});
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->num_rows(), 3u);
    auto progress = ex->StateProgress();
    ASSERT_EQ(progress.size(), 1u);
    EXPECT_EQ(progress[0].num_rows_total, 3);
    EXPECT_EQ(progress[0].num_rows_updated, 3);
    Commit(*ex, 0);
  }
  EXPECT_FALSE(
      store_.Dump(CommitSpace::kOperatorState).empty());  // a delta per shard that holds keys
  // A new executor (a restart, other shard count) knows the committed keys.
  auto ex = Make(3, {std::make_shared<KeepFirstSpec>("key")});
  auto out = Run(*ex, 1, {{1, 4}, {3, 5}});
  ASSERT_TRUE(out.ok());
  std::vector<std::string> v = Values(*out);
  std::sort(v.begin(), v.end());
  EXPECT_EQ(v, (std::vector<std::string>{"v0.1", "v1.1"}));  // k4 and k5 are new
}

TEST_F(ShardExecutorTest, DiscardedStateChangesAreForgotten) {
  auto ex = Make(1, {std::make_shared<KeepFirstSpec>("key")});
  ASSERT_TRUE(Run(*ex, 0, {{1, 2}}).ok());
  ex->DiscardStateChanges();  // the batch failed to commit
  Commit(*ex, 0);
  EXPECT_TRUE(store_.Dump(CommitSpace::kOperatorState).empty());
}

}  // namespace
}  // namespace pinstream
