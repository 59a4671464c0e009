// ShardExecutor with fake operators: output order, the keyed exchange, rejections, failures and
// keyed state.
#include "engine/shard_executor.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

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

// Appends `suffix` to every `value` (stateless; placed on one input's rows in the tests).
class SuffixSpec : public OperatorSpec {
 public:
  explicit SuffixSpec(std::string suffix) : suffix_(std::move(suffix)) {}
  std::string_view kind() const override { return "suffix"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    struct Op : Operator {
      std::string suffix;
      Status Process(RecordBatch& b, OperatorContext&) override {
        int ci = b.FindColumn("value");
        if (ci < 0) return InvalidArgument("no value column");
        Column out(TypeId::kString);
        const Column& in = b.column(static_cast<std::size_t>(ci));
        for (std::size_t r = 0; r < b.num_rows(); ++r)
          out.AppendString(std::string(in.Str(r)) + suffix);
        b.SetColumn(static_cast<std::size_t>(ci), std::move(out));
        return Status::Ok();
      }
    };
    auto op = std::make_unique<Op>();
    op->suffix = suffix_;
    return std::unique_ptr<Operator>(std::move(op));
  }

 private:
  std::string suffix_;
};

// Copies its rows into a new batch, as parse_json does: the new batch carries no input tag.
class RebuildSpec : public OperatorSpec {
 public:
  std::string_view kind() const override { return "rebuild"; }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext&) const override {
    struct Op : Operator {
      Status Process(RecordBatch& b, OperatorContext&) override {
        RecordBatch fresh;
        fresh.row_ids() = b.row_ids();
        for (std::size_t c = 0; c < b.num_columns(); ++c) fresh.AddColumn(b.name(c), b.column(c));
        b = std::move(fresh);
        return Status::Ok();
      }
    };
    return std::unique_ptr<Operator>(std::make_unique<Op>());
  }
};

// Consumes inputs "a" (keyed by `key`) and "b" (keyed by `other`): remembers the values of each
// key per side during the batch and, at its end, emits one row per key both sides had —
// key, value "<a values>|<b values>" — with weight -1 when the a side had more rows.
class PairSpec : public OperatorSpec {
 public:
  std::string_view kind() const override { return "pair"; }
  std::vector<std::string> ConsumedInputs() const override { return {"a", "b"}; }
  std::vector<std::string> KeyColumnsOf(std::size_t input) const override {
    return {input == 0 ? "key" : "other"};
  }
  Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
    struct Op : Operator {
      std::uint16_t tag_a = 0, out_tag = 0;
      std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> seen;
      Status Process(RecordBatch& b, OperatorContext&) override {
        bool is_a = b.input_tag() == tag_a;
        int kc = b.FindColumn(is_a ? "key" : "other");
        int vc = b.FindColumn("value");
        if (kc < 0 || vc < 0) return InvalidArgument("pair: missing columns");
        for (std::size_t r = 0; r < b.num_rows(); ++r) {
          auto& e = seen[std::string(b.column(static_cast<std::size_t>(kc)).Str(r))];
          (is_a ? e.first : e.second).emplace_back(b.column(static_cast<std::size_t>(vc)).Str(r));
        }
        std::vector<std::uint8_t> none(b.num_rows(), 0);
        b.Compact(none);
        return Status::Ok();
      }
      Status Finish(OperatorContext&, std::vector<RecordBatch>* out) override {
        Column k(TypeId::kString), v(TypeId::kString);
        std::vector<std::int64_t> w;
        for (auto& [key, e] : seen) {
          if (e.first.empty() || e.second.empty()) continue;
          std::sort(e.first.begin(), e.first.end());
          std::sort(e.second.begin(), e.second.end());
          k.AppendString(key);
          v.AppendString(fmt::format("{}|{}", fmt::join(e.first, ","), fmt::join(e.second, ",")));
          w.push_back(e.first.size() > e.second.size() ? -1 : 1);
        }
        seen.clear();
        RecordBatch b;
        b.row_ids().resize(k.size());
        b.AddColumn("key", std::move(k));
        b.AddColumn("value", std::move(v));
        b.SetWeights(std::move(w));
        b.set_input_tag(out_tag);
        out->push_back(std::move(b));
        return Status::Ok();
      }
    };
    auto op = std::make_unique<Op>();
    op->tag_a = ctx.input_tags.at(0);
    op->out_tag = ctx.output_tag;
    return std::unique_ptr<Operator>(std::move(op));
  }
};

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

TEST_F(ShardExecutorTest, InputsFlowThroughTheirOwnSlotsAndAJoinLikeSlotPairsThemByEachSidesKey) {
  // Slots: a suffix on input a's rows only, a pair of a (by key) and b (by other) into tag 2,
  // and a suffix on tag 2 only. Input b's chunks name their key column "other".
  std::vector<std::string> results;
  for (int shards : {1, 2, 3}) {
    specs_ = {std::make_shared<SuffixSpec>("!"), std::make_shared<PairSpec>(),
              std::make_shared<SuffixSpec>("#")};
    std::vector<ShardExecutor::OperatorSlot> slots;
    slots.push_back({"a.0:suffix", specs_[0].get(), {0}, {{}}, 0});
    slots.push_back({"pair", specs_[1].get(), {0, 1}, {{"key"}, {"other"}}, 2, true});
    slots.push_back({"after:suffix", specs_[2].get(), {2}, {{}}, 2});
    checkpoint_ = std::move(store_.OpenQuery("q")).value();
    auto made = ShardExecutor::Create("q", shards, 8, std::move(slots), checkpoint_.get());
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    auto& ex = *made.value();
    ex.BeginBatch(0, 1000);
    ex.SubmitChunk(Chunk(0, {{"k1", "a1"}, {"k2", "a2"}, {"k1", "a3"}}), 0);
    RecordBatch b1 = StringBatch({"other", "value"}, {{"k1", "b1"}, {"k3", "b2"}});
    for (std::size_t r = 0; r < b1.num_rows(); ++r)
      b1.row_ids()[r] = MakeRowId(1, static_cast<std::uint32_t>(r));
    b1.set_input_tag(1);
    ex.SubmitChunk(std::move(b1), 1);
    RecordBatch b2 = StringBatch({"other", "value"}, {{"k2", "b3"}});
    b2.row_ids()[0] = MakeRowId(2, 0);
    b2.set_input_tag(1);
    ex.SubmitChunk(std::move(b2), 2);
    auto out = ex.Finish();
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    std::vector<std::string> rows;
    for (const auto& b : out->batches) {
      EXPECT_EQ(b.input_tag(), 2);
      auto keys = ColumnStrings(b, "key");
      auto values = ColumnStrings(b, "value");
      for (std::size_t r = 0; r < b.num_rows(); ++r) {
        EXPECT_TRUE(IsEmittedRow(b.row_ids()[r]));
        rows.push_back(fmt::format("{} {} {}", keys[r], values[r], b.weight(r)));
      }
    }
    std::sort(rows.begin(), rows.end());
    results.push_back(fmt::format("{}", fmt::join(rows, "; ")));
  }
  EXPECT_EQ(results[0], "k1 a1!,a3!|b1# -1; k2 a2!|b3# 1");
  EXPECT_EQ(results[1], results[0]);
  EXPECT_EQ(results[2], results[0]);
}

// An input's operator that builds a new batch (parse_json) leaves its rows of that input: the
// join-like slot sees input b's rows as b's (they came out as input a's before).
TEST_F(ShardExecutorTest, RowsKeepTheirInputsTagThroughAnOperatorThatBuildsANewBatch) {
  for (int shards : {1, 2}) {
    specs_ = {std::make_shared<RebuildSpec>(), std::make_shared<PairSpec>()};
    std::vector<ShardExecutor::OperatorSlot> slots;
    slots.push_back({"b.0:rebuild", specs_[0].get(), {1}, {{}}, 1});
    slots.push_back({"pair", specs_[1].get(), {0, 1}, {{"key"}, {"other"}}, 2, true});
    checkpoint_ = std::move(store_.OpenQuery("q")).value();
    auto made = ShardExecutor::Create("q", shards, 8, std::move(slots), checkpoint_.get());
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    auto& ex = *made.value();
    ex.BeginBatch(0, 1000);
    ex.SubmitChunk(Chunk(0, {{"k1", "a1"}}), 0);
    RecordBatch b1 = StringBatch({"other", "value"}, {{"k1", "b1"}});
    b1.row_ids()[0] = MakeRowId(1, 0);
    b1.set_input_tag(1);
    ex.SubmitChunk(std::move(b1), 1);
    auto out = ex.Finish();
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->batches.size(), 1u);
    EXPECT_EQ(ColumnStrings(out->batches[0], "value"), (std::vector<std::string>{"a1|b1"}));
  }
}

TEST_F(ShardExecutorTest, ASchemaCheckThatNeedsTheDataFailsTheBatchWithTheOperatorsLocation) {
  // A spec whose DeriveSchema wants a column `needed`: unknown at start, absent in the data.
  class NeedsColumnSpec : public OperatorSpec {
   public:
    std::string_view kind() const override { return "needs"; }
    Result<std::unique_ptr<Operator>> Create(const OperatorInitContext& ctx) const override {
      return RejectValuesSpec("value", {}).Create(ctx);
    }
    Result<StreamSchema> DeriveSchema(std::span<const StreamSchema> in) const override {
      PS_RETURN_IF_ERROR(RequireColumnIn(in.front(), "needed", "needs"));
      return in.front();
    }
  };
  specs_ = {std::make_shared<NeedsColumnSpec>()};
  std::vector<ShardExecutor::OperatorSlot> slots;
  ShardExecutor::OperatorSlot slot{"0:needs", specs_[0].get()};
  slot.where = "q.yaml:7:9: queries[0].operators[0]";
  slot.input_schemas = {StreamSchema::Unknown()};
  slots.push_back(slot);
  checkpoint_ = std::move(store_.OpenQuery("q")).value();
  auto ex =
      std::move(ShardExecutor::Create("q", 2, 8, std::move(slots), checkpoint_.get())).value();
  auto out = Run(*ex, 0, {{1}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find(
                "q.yaml:7:9: queries[0].operators[0]: needs: column 'needed' does not exist in its "
                "input (columns: key: string, value: string)"),
            std::string::npos)
      << out.status().message();
}

}  // namespace
}  // namespace pinstream
